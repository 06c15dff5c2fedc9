import {
  type AnnouncedEvent,
  type Announcement,
  EventValidationError,
  FORBIDDEN_KEYS,
  NAME_PATTERN,
  type ValidationIssue,
} from '@evco/core/adapter';

/**
 * The announcement as it travels on Redis, version 1:
 *
 * ```json
 * {"v":1,"source":"host:42:ab12","events":[
 *   {"id":"0190…","eventType":"UserRegistered","aggregateId":"u-1","position":"123"}]}
 * ```
 *
 * - `position` is a decimal string: positions are 64-bit and JSON numbers lose precision past 2^53.
 * - Exactly these fields, no others: anything else is a different (future) version, and a
 *   consumer that does not know a version drops the message rather than guessing.
 * - One announcement may arrive as several messages (chunks) that each stay under the size limit.
 */
export const WIRE_VERSION = 1;

/** Longest `source`, `id` and `aggregateId`, as in the event envelope. */
export const MAX_FIELD_LENGTH = 200;

/** Unsigned, no leading zeros, at most 2^63 - 1 (Postgres `bigint`). */
const POSITION = /^(?:0|[1-9][0-9]{0,18})$/;
const MAX_POSITION = 9_223_372_036_854_775_807n;

const TOP_KEYS = new Set(['v', 'source', 'events']);
const EVENT_KEYS = new Set(['id', 'eventType', 'aggregateId', 'position']);

const SOURCE = 'publisher-redis';

export type DecodeResult = { ok: true; announcement: Announcement } | { ok: false; reason: string };

/**
 * Serializes an announcement into one or more messages, each at most `maxMessageBytes` UTF-8
 * bytes, keeping event order across chunks. Rejects fields a v1 consumer would refuse, so that
 * nothing this process sends is dropped as malformed by another one.
 */
export function encodeAnnouncement(announcement: Announcement, maxMessageBytes: number): string[] {
  const issues: ValidationIssue[] = [];
  const source = announcement?.source;
  if (!isBoundedString(source)) {
    issues.push({ path: 'source', message: `must be a string of 1..${MAX_FIELD_LENGTH} characters` });
  }
  const events = announcement?.events;
  if (!Array.isArray(events)) {
    issues.push({ path: 'events', message: 'must be an array' });
    throw new EventValidationError(issues, { subject: 'announcement', source: SOURCE });
  }
  if (events.length === 0 && issues.length === 0) return [];

  const wire: WireEvent[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (isValidEvent(e)) {
      wire[i] = {
        id: e.id,
        eventType: e.eventType,
        aggregateId: e.aggregateId,
        position: e.position,
      };
    } else {
      issues.push(...describeEvent(e, `events[${i}]`));
    }
  }
  if (issues.length > 0) throw new EventValidationError(issues, { subject: 'announcement', source: SOURCE });
  const chunks: string[] = [];
  encodeSlice(
    `{"v":${WIRE_VERSION},"source":${JSON.stringify(source)},"events":`,
    wire,
    0,
    wire.length,
    maxMessageBytes,
    chunks,
  );
  return chunks;
}

/** Field order fixed, as documented; every instance has the same shape (JSON.stringify's fast path). */
interface WireEvent {
  id: string;
  eventType: string;
  aggregateId: string;
  position: string;
}

function encodeSlice(
  head: string,
  wire: WireEvent[],
  from: number,
  to: number,
  max: number,
  out: string[],
): void {
  const n = to - from;
  // Entries are of similar size: one of them tells how many slices a large announcement needs,
  // so it is not serialized whole only to be cut afterwards.
  if (n > 1) {
    const estimate = head.length + 1 + n * (JSON.stringify(wire[from]).length + 1);
    if (estimate > max) {
      splitSlice(head, wire, from, to, max, out, estimate);
      return;
    }
  }
  const message = `${head}${JSON.stringify(from === 0 && to === wire.length ? wire : wire.slice(from, to))}}`;
  // A UTF-16 unit is at most 3 UTF-8 bytes: small messages need no exact count.
  const bytes = message.length * 3 <= max ? message.length : Buffer.byteLength(message);
  if (bytes <= max) {
    out.push(message);
  } else if (n > 1) {
    splitSlice(head, wire, from, to, max, out, bytes);
  } else {
    throw new EventValidationError(
      [
        {
          path: `events[${from}]`,
          message: `needs ${bytes} bytes on the wire, above maxMessageBytes (${max})`,
        },
      ],
      { subject: 'announcement', source: SOURCE },
    );
  }
}

/** Cuts into equal slices with room to spare; a slice that still does not fit is cut again. */
function splitSlice(
  head: string,
  wire: WireEvent[],
  from: number,
  to: number,
  max: number,
  out: string[],
  bytes: number,
): void {
  const n = to - from;
  const pieces = Math.min(n, Math.max(2, Math.ceil(bytes / (max * 0.9))));
  const per = Math.ceil(n / pieces);
  for (let start = from; start < to; start += per)
    encodeSlice(head, wire, start, Math.min(to, start + per), max, out);
}

/**
 * Parses one message strictly. Never throws: whatever arrives on a shared channel, from any
 * process in any language, ends as either an announcement or a reason to drop it.
 */
export function decodeAnnouncement(raw: string | Buffer, maxBytes: number): DecodeResult {
  // A UTF-16 unit is 1..3 UTF-8 bytes, so the exact count is only needed near the limit.
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const size = typeof raw === 'string' ? text.length : raw.length;
  if (
    size > maxBytes ||
    (typeof raw === 'string' && size * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)
  ) {
    return fail(`message exceeds ${maxBytes} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('not valid JSON');
  }
  if (!isRecord(value)) return fail('not a JSON object');
  const badTop = checkKeys(value, TOP_KEYS, '');
  if (badTop) return fail(badTop);
  if (value.v !== WIRE_VERSION) {
    return fail(
      typeof value.v === 'number' ? `unsupported wire version ${value.v}` : 'missing or invalid version "v"',
    );
  }
  if (!isBoundedString(value.source))
    return fail(`source must be a string of 1..${MAX_FIELD_LENGTH} characters`);
  const list = value.events;
  if (!Array.isArray(list) || list.length === 0) return fail('events must be a non-empty array');

  const events: AnnouncedEvent[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const e: unknown = list[i];
    const path = `events[${i}]`;
    if (!isRecord(e)) return fail(`${path} is not an object`);
    const badKey = checkKeys(e, EVENT_KEYS, path);
    if (badKey) return fail(badKey);
    if (!isBoundedString(e.id))
      return fail(`${path}.id must be a string of 1..${MAX_FIELD_LENGTH} characters`);
    if (!isEventType(e.eventType)) return fail(`${path}.eventType is not a valid event type`);
    if (!isBoundedString(e.aggregateId)) {
      return fail(`${path}.aggregateId must be a string of 1..${MAX_FIELD_LENGTH} characters`);
    }
    const position = parsePosition(e.position);
    if (position === undefined) return fail(`${path}.position must be a decimal string in 0..2^63-1`);
    events[i] = { id: e.id, eventType: e.eventType, aggregateId: e.aggregateId, position };
  }
  return { ok: true, announcement: { source: value.source, events } };
}

function fail(reason: string): DecodeResult {
  return { ok: false, reason };
}

/** Missing or extra keys, and keys that would reach a prototype, all make the message malformed. */
function checkKeys(
  o: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  path: string,
): string | undefined {
  const keys = Object.keys(o);
  for (const key of keys) {
    if (FORBIDDEN_KEYS.has(key)) return `forbidden key "${key}"${path ? ` in ${path}` : ''}`;
    if (!allowed.has(key)) return `unknown field "${truncate(key)}"${path ? ` in ${path}` : ''}`;
  }
  if (keys.length !== allowed.size) {
    const missing = [...allowed].filter((k) => !Object.hasOwn(o, k));
    return `missing field "${missing[0]}"${path ? ` in ${path}` : ''}`;
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isBoundedString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD_LENGTH;
}

function isEventType(v: unknown): v is string {
  return isBoundedString(v) && NAME_PATTERN.test(v);
}

/** The canonical position string, or `undefined` for anything else (leading zeros, signs, > 2^63-1). */
function parsePosition(v: unknown): string | undefined {
  if (typeof v !== 'string' || !POSITION.test(v)) return undefined;
  return BigInt(v) <= MAX_POSITION ? v : undefined;
}

function isValidEvent(e: unknown): e is AnnouncedEvent {
  if (!isRecord(e)) return false;
  return (
    isBoundedString(e.id) &&
    isEventType(e.eventType) &&
    isBoundedString(e.aggregateId) &&
    parsePosition(e.position) !== undefined
  );
}

function describeEvent(e: unknown, path: string): ValidationIssue[] {
  if (!isRecord(e)) return [{ path, message: 'must be an object' }];
  const issues: ValidationIssue[] = [];
  if (!isBoundedString(e.id)) {
    issues.push({ path: `${path}.id`, message: `must be a string of 1..${MAX_FIELD_LENGTH} characters` });
  }
  if (!isEventType(e.eventType)) {
    issues.push({ path: `${path}.eventType`, message: 'must match [A-Za-z0-9_.:-]{1,200}' });
  }
  if (!isBoundedString(e.aggregateId)) {
    issues.push({
      path: `${path}.aggregateId`,
      message: `must be a string of 1..${MAX_FIELD_LENGTH} characters`,
    });
  }
  if (parsePosition(e.position) === undefined) {
    issues.push({
      path: `${path}.position`,
      message: 'must be a canonical decimal string in 0..2^63-1 (no sign, no leading zeros)',
    });
  }
  return issues;
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
