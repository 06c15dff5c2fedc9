import {
  type DeliveryInfo,
  type DeliveryStatus,
  deepFreezeJson,
  formatPosition,
  type Position,
  parsePosition,
  type RecordedEvent,
  type ReplayJob,
} from '@evco/core/adapter';
import { SOURCE } from './options.js';

/**
 * Stored dates are `Date#toISOString()` text: UTC, millisecond precision, and fixed width for
 * years 0000–9999, so SQLite's text comparison orders them in time. Nothing here (or in the SQL)
 * uses local time, which is why results do not depend on the process's TZ.
 */
export const MIN_TIME = Date.parse('0000-01-01T00:00:00.000Z');
export const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/** True when the date can be stored (and compared) as fixed-width ISO text. */
export function isStorableTime(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_TIME && ms <= MAX_TIME;
}

export function iso(date: Date): string {
  return date.toISOString();
}

/**
 * A query bound as text. Out of the storable range, `''` sorts below and `':'` above every
 * stored date (they all start with a digit), so a bound like `to: new Date(8.64e15)` still
 * means "everything" instead of comparing against `+275760-…`.
 */
export function boundIso(date: Date): string {
  const t = date.getTime();
  if (t < MIN_TIME) return '';
  if (t > MAX_TIME) return ':';
  return date.toISOString();
}

/** An event row as selected with `EVENT_COLUMNS` (positions read with safe integers). */
export interface EventRow {
  position: bigint;
  id: string;
  event_type: string;
  aggregate_id: string;
  aggregate_type: string | null;
  aggregate_version: bigint | number | null;
  event_data: string;
  metadata: string;
  occurred_at: string;
  recorded_at: string;
}

export function toRecordedEvent(row: EventRow): RecordedEvent {
  const event: {
    -readonly [K in keyof RecordedEvent]: RecordedEvent[K];
  } = {
    id: row.id,
    eventType: row.event_type,
    aggregateId: row.aggregate_id,
    eventData: deepFreezeJson(JSON.parse(row.event_data)),
    metadata: Object.freeze(JSON.parse(row.metadata)),
    occurredAt: new Date(row.occurred_at),
    position: formatPosition(row.position),
    recordedAt: new Date(row.recorded_at),
  };
  if (row.aggregate_type !== null) event.aggregateType = row.aggregate_type;
  if (row.aggregate_version !== null) event.aggregateVersion = Number(row.aggregate_version);
  return Object.freeze(event);
}

export interface DeliveryRow {
  delivery_id: bigint | number;
  event_position: bigint;
  handler: string;
  status: DeliveryStatus;
  attempts: bigint | number;
  next_attempt_at: string;
  last_error: string | null;
  is_replay: bigint | number;
  updated_at: string;
}

export function toDeliveryInfo(row: DeliveryRow): DeliveryInfo {
  return {
    deliveryId: String(row.delivery_id),
    handler: row.handler,
    status: row.status,
    attempts: Number(row.attempts),
    nextAttemptAt: row.status === 'pending' ? new Date(row.next_attempt_at) : null,
    lastError: row.last_error,
    isReplay: Number(row.is_replay) === 1,
    updatedAt: new Date(row.updated_at),
  };
}

export interface ReplayRow {
  id: bigint | number;
  status: 'running' | 'done';
  from_at: string;
  to_at: string;
  event_type: string | null;
  handler: string | null;
  max_events: bigint | number;
  from_position: bigint | null;
  until_position: bigint;
  cursor: bigint | null;
  events_matched: bigint | number;
  deliveries_queued: bigint | number;
  truncated: bigint | number;
  created_at: string;
  updated_at: string;
}

const REPLAY_ID = /^replay-([1-9][0-9]{0,15})$/;

export function replayId(rowId: bigint | number): string {
  return `replay-${rowId}`;
}

/** The row id behind a replay id, or undefined for anything this store did not hand out. */
export function parseReplayId(id: string): number | undefined {
  const match = REPLAY_ID.exec(id);
  return match ? Number(match[1]) : undefined;
}

export function toReplayJob(row: ReplayRow): ReplayJob {
  const job: ReplayJob = {
    id: replayId(row.id),
    from: new Date(row.from_at),
    to: new Date(row.to_at),
    maxEvents: Number(row.max_events),
    status: row.status,
    cursor: nullablePosition(row.cursor),
    eventsMatched: Number(row.events_matched),
    deliveriesQueued: Number(row.deliveries_queued),
    truncated: Number(row.truncated) === 1,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
  if (row.event_type !== null) job.eventType = row.event_type;
  if (row.handler !== null) job.handler = row.handler;
  return job;
}

/** A caller's position cursor as the integer SQLite compares (`0n`: from the start). Throws before I/O. */
export function cursorParam(value: Position | undefined, field: string): bigint {
  return value === undefined ? 0n : parsePosition(value, field, { source: SOURCE });
}

/** A nullable integer column as the public position string. */
export function nullablePosition(value: bigint | number | null): Position | null {
  return value === null ? null : formatPosition(value);
}

/** Delivery ids are decimal row ids; anything else names no delivery. */
export function parseDeliveryId(id: string): number | undefined {
  return /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : undefined;
}

/** A JSON array of integers for `json_each`, built by hand because JSON.stringify refuses BigInt. */
export function jsonIntegers(values: ReadonlyArray<bigint | number>): string {
  return `[${values.join(',')}]`;
}
