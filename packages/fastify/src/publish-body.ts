/**
 * `POST {prefix}/events` bodies: one event, or `{ "events": [...] }`. Each event is checked
 * against the envelope schema from `@evco/core` and, when the app named its event types, its
 * module's `defineEvent` contract; every problem of every event is reported at once, with paths
 * relative to the body (`events.2.eventData.email`).
 */
import {
  createDomainEvent,
  type DomainEvent,
  domainEventInputSchema,
  isEvcoError,
  type ValidationIssue,
} from '@evco/core';
import { isPlainObject, toIssues } from '@evco/core/adapter';
import { z } from 'zod';
import { ApiError, summarize } from './errors.js';
import type { AnyEventDefinition, EventCatalog } from './event-catalog.js';
import { EventCatalog as Catalog } from './event-catalog.js';

const isoDateTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 date-time with a timezone',
});

/**
 * The envelope as it arrives over HTTP: core's schema, with `occurredAt` as a string (JSON has
 * no dates) and `eventData` an object.
 */
export const httpEventInputSchema = domainEventInputSchema.extend({
  eventData: z.record(z.string(), z.unknown()).optional(),
  occurredAt: isoDateTime.optional(),
});

export interface ParsedPublish {
  /** The body was `{ events: [...] }`. */
  batch: boolean;
  events: DomainEvent[];
}

function prefixed(prefix: string, path: string): string {
  if (!prefix) return path;
  return path ? `${prefix}.${path}` : prefix;
}

/** Given the parsed `input`, a missing field reads "is required" (see core's `toIssues`). */
function zodIssues(error: z.ZodError, prefix: string, input: unknown): ValidationIssue[] {
  return toIssues(error, undefined, input).map((i) => ({
    path: prefixed(prefix, i.path),
    message: i.message,
  }));
}

function dataIssues(definition: AnyEventDefinition, data: unknown, prefix: string): ValidationIssue[] {
  const path = prefixed(prefix, 'eventData');
  // zod directly when the contract is zod: its issues name unknown keys, Standard Schema's do not.
  const zod = Catalog.zodSchemaOf(definition);
  if (zod) {
    const parsed = zod.safeParse(data);
    return parsed.success ? [] : zodIssues(parsed.error, path, data);
  }
  const result = definition.schema['~standard'].validate(data) as {
    issues?: ReadonlyArray<{ message: string; path?: ReadonlyArray<unknown> | undefined }> | undefined;
  };
  if (result instanceof Promise || !result.issues) return [];
  return result.issues.map((i) => ({
    path: prefixed(
      path,
      (i.path ?? [])
        .map((p) => String(typeof p === 'object' && p ? (p as { key: unknown }).key : p))
        .join('.'),
    ),
    message: i.message,
  }));
}

interface UnknownType {
  path: string;
  eventType: string;
}

function parseOne(
  input: unknown,
  prefix: string,
  catalog: EventCatalog | undefined,
  issues: ValidationIssue[],
  unknown: UnknownType[],
): DomainEvent | undefined {
  if (!isPlainObject(input)) {
    issues.push({ path: prefix, message: 'an event must be a JSON object' });
    return undefined;
  }
  const before = issues.length;
  const envelope = httpEventInputSchema.safeParse(input);
  if (!envelope.success) issues.push(...zodIssues(envelope.error, prefix, input));
  if (!catalog) return envelope.success ? createChecked(envelope.data, prefix, issues) : undefined;
  const eventType = input.eventType;
  const entry = typeof eventType === 'string' ? catalog.get(eventType) : undefined;
  if (
    typeof eventType === 'string' &&
    !entry &&
    !issues.some((i) => i.path === prefixed(prefix, 'eventType'))
  ) {
    unknown.push({ path: prefixed(prefix, 'eventType'), eventType });
    return undefined;
  }
  if (!entry) return undefined;
  const { definition } = entry;
  // A non-object eventData is already reported by the envelope; its fields would only add noise.
  if (input.eventData === undefined || isPlainObject(input.eventData)) {
    issues.push(...dataIssues(definition, input.eventData ?? {}, prefix));
  }
  if (!envelope.success || issues.length > before) return undefined;

  const e = envelope.data;
  if (
    e.aggregateType !== undefined &&
    definition.aggregateType !== undefined &&
    e.aggregateType !== definition.aggregateType
  ) {
    issues.push({
      path: prefixed(prefix, 'aggregateType'),
      message: `${definition.eventType} events are about a ${definition.aggregateType}; leave it out or send "${definition.aggregateType}"`,
    });
  }
  const schemaVersion = e.metadata?.schemaVersion;
  if (schemaVersion !== undefined && schemaVersion !== definition.schemaVersion) {
    issues.push({
      path: prefixed(prefix, 'metadata.schemaVersion'),
      message: `this service accepts version ${definition.schemaVersion} of ${definition.eventType}`,
    });
  }
  if (issues.length > before) return undefined;
  return collectIssues(
    prefix,
    issues,
    () =>
      definition.create({
        id: e.id,
        aggregateId: e.aggregateId,
        aggregateType: e.aggregateType,
        aggregateVersion: e.aggregateVersion,
        data: (e.eventData ?? {}) as object,
        metadata: e.metadata,
        occurredAt: e.occurredAt,
      }) as DomainEvent,
  );
}

/** Without a catalog: any event type, the envelope and the payload rules of core. */
function createChecked(
  e: z.output<typeof httpEventInputSchema>,
  prefix: string,
  issues: ValidationIssue[],
): DomainEvent | undefined {
  return collectIssues(prefix, issues, () =>
    createDomainEvent({ ...e, eventData: (e.eventData ?? {}) as Record<string, never> }),
  );
}

/** Builds the frozen event (the payload walk: size, JSON-safety, prototype keys) or records why not. */
function collectIssues(
  prefix: string,
  issues: ValidationIssue[],
  create: () => DomainEvent,
): DomainEvent | undefined {
  try {
    return create();
  } catch (error) {
    if (!isEvcoError(error, 'EVENT_VALIDATION')) throw error;
    const found = (error as unknown as { issues: readonly ValidationIssue[] }).issues;
    issues.push(...found.map((i) => ({ path: prefixed(prefix, i.path), message: i.message })));
    return undefined;
  }
}

/**
 * Validates a `POST /events` body into events ready to publish. Throws `ApiError` 400 with code
 * `UNKNOWN_EVENT_TYPE` (listing the accepted types) or `EVENT_VALIDATION` (listing every issue).
 */
export function parsePublishBody(
  body: unknown,
  catalog: EventCatalog | undefined,
  maxBatch: number,
): ParsedPublish {
  const issues: ValidationIssue[] = [];
  const unknown: UnknownType[] = [];
  if (!isPlainObject(body)) {
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      'the body must be a JSON object: one event, or { "events": [ ... ] }',
    );
  }
  const batch = Object.hasOwn(body, 'events');
  let items: Array<[string, unknown]>;
  if (batch) {
    for (const key of Object.keys(body)) {
      if (key !== 'events')
        issues.push({ path: key, message: 'unknown field (a batch holds only "events")' });
    }
    const events = body.events;
    if (!Array.isArray(events)) {
      issues.push({ path: 'events', message: 'must be an array of events' });
      items = [];
    } else if (events.length === 0) {
      issues.push({ path: 'events', message: 'must hold at least one event' });
      items = [];
    } else if (events.length > maxBatch) {
      issues.push({ path: 'events', message: `must hold at most ${maxBatch} events; split the batch` });
      items = [];
    } else {
      items = events.map((e, i) => [`events.${i}`, e]);
    }
  } else {
    items = [['', body]];
  }
  const out: DomainEvent[] = [];
  for (const [prefix, input] of items) {
    const event = parseOne(input, prefix, catalog, issues, unknown);
    if (event) out.push(event);
  }
  if (unknown.length > 0 && catalog) {
    const first = unknown[0]!;
    const where = first.path === 'eventType' ? '' : ` (${first.path})`;
    throw new ApiError(
      400,
      'UNKNOWN_EVENT_TYPE',
      `unknown event type "${first.eventType.slice(0, 200)}"${where}; this service accepts: ${catalog.types.join(', ')}`,
      {
        issues: [
          ...unknown.map((u) => ({
            path: u.path,
            message: `unknown event type "${u.eventType.slice(0, 200)}"`,
          })),
          ...issues,
        ],
        knownTypes: [...catalog.types],
      },
    );
  }
  if (issues.length > 0) {
    throw new ApiError(
      400,
      'EVENT_VALIDATION',
      `invalid ${batch ? 'events' : 'event'}: ${summarize(issues)}`,
      { issues },
    );
  }
  return { batch, events: out };
}

/** Documentation-only schema of a publish body, per known event type (the OpenAPI document). */
export function publishBodyDocSchema(catalog: EventCatalog | undefined, maxBatch: number) {
  const variants = (catalog?.entries() ?? []).map(({ module, definition }) =>
    httpEventInputSchema
      .extend({
        eventType: z.literal(definition.eventType),
        eventData: Catalog.zodSchemaOf(definition) ?? z.record(z.string(), z.unknown()),
      })
      .describe(
        module ? `${definition.eventType} (published by the ${module} module)` : definition.eventType,
      ),
  );
  const [first, ...rest] = variants;
  const single = first ? z.discriminatedUnion('eventType', [first, ...rest]) : httpEventInputSchema;
  return z.union([
    single,
    z.strictObject({
      events: z.array(single).min(1).max(maxBatch).describe('Stored atomically: all or none'),
    }),
  ]);
}
