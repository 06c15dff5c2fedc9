/**
 * What the API sends: zod schemas (they also make the OpenAPI document) and the mappings from
 * evco's types. Positions are decimal strings as in evco (JSON numbers lose precision past 2^53), times are
 * ISO-8601 UTC, and every free-text field that could echo a driver error is masked.
 */
import type {
  CoordinatorStatus,
  DeadLetter,
  DeliveryInfo,
  RecordedEvent,
  UnprocessedEvent,
} from '@evco/core';
import { maskSecrets } from '@evco/core';
import { z } from 'zod';

export const positionSchema = z
  .string()
  .regex(/^\d+$/)
  .describe('Global append order, as a decimal string (a 64-bit integer)');

export const errorSchema = z.object({
  error: z.object({
    code: z
      .string()
      .describe('Stable, e.g. EVENT_VALIDATION, UNKNOWN_EVENT_TYPE, CONCURRENCY, STORE_UNAVAILABLE'),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    knownTypes: z.array(z.string()).optional(),
    requestId: z.string().optional(),
  }),
});

export const recordedEventSchema = z.object({
  id: z.string(),
  eventType: z.string(),
  aggregateId: z.string(),
  aggregateType: z.string().optional(),
  aggregateVersion: z.number().int().optional(),
  eventData: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.union([z.string(), z.number()])),
  occurredAt: z.string(),
  recordedAt: z.string(),
  position: positionSchema,
});
export type EventDto = z.output<typeof recordedEventSchema>;

export function toEventDto(event: RecordedEvent): EventDto {
  const dto: EventDto = {
    id: event.id,
    eventType: event.eventType,
    aggregateId: event.aggregateId,
    eventData: event.eventData as Record<string, unknown>,
    metadata: event.metadata as Record<string, string | number>,
    occurredAt: event.occurredAt.toISOString(),
    recordedAt: event.recordedAt.toISOString(),
    position: event.position,
  };
  if (event.aggregateType !== undefined) dto.aggregateType = event.aggregateType;
  if (event.aggregateVersion !== undefined) dto.aggregateVersion = event.aggregateVersion;
  return dto;
}

export const deliverySchema = z.object({
  deliveryId: z.string(),
  handler: z.string(),
  status: z.enum(['pending', 'running', 'done', 'dead']),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastError: z.string().nullable(),
  isReplay: z.boolean(),
  updatedAt: z.string(),
});

export function toDeliveryDto(d: DeliveryInfo): z.output<typeof deliverySchema> {
  return {
    deliveryId: d.deliveryId,
    handler: d.handler,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt ? d.nextAttemptAt.toISOString() : null,
    lastError: d.lastError === null ? null : maskSecrets(d.lastError),
    isReplay: d.isReplay,
    updatedAt: d.updatedAt.toISOString(),
  };
}

export const unprocessedSchema = z.object({
  event: recordedEventSchema,
  deliveries: z.array(deliverySchema),
});
export const deadLetterSchema = z.object({ event: recordedEventSchema, delivery: deliverySchema });

export function toUnprocessedDto(u: UnprocessedEvent): z.output<typeof unprocessedSchema> {
  return { event: toEventDto(u.event), deliveries: u.deliveries.map(toDeliveryDto) };
}

export function toDeadLetterDto(d: DeadLetter): z.output<typeof deadLetterSchema> {
  return { event: toEventDto(d.event), delivery: toDeliveryDto(d.delivery) };
}

export const publishedSchema = z.object({
  eventId: z.string(),
  eventType: z.string(),
  position: positionSchema,
  deliveries: z.number().int().describe('Handlers (anywhere in the fleet) that will get the event'),
  correlationId: z.string(),
});

const healthSchema = z.looseObject({ healthy: z.boolean(), latencyMs: z.number() });

export const statusSchema = z.object({
  service: z.object({
    name: z.string(),
    startedAt: z.string(),
    uptimeSeconds: z.number(),
    store: z.looseObject({ kind: z.string(), location: z.string() }),
    publisher: z.looseObject({ kind: z.string(), location: z.string() }),
    adminRoutes: z.enum(['on', 'off']),
    eventTypes: z.array(z.string()),
  }),
  coordinator: z.looseObject({
    id: z.string(),
    state: z.enum(['running', 'stopping', 'stopped']),
    startedAt: z.string(),
    store: z.looseObject({ name: z.string(), health: healthSchema }),
    publisher: z.looseObject({ name: z.string(), health: healthSchema }),
    handlers: z.array(
      z.looseObject({
        name: z.string(),
        eventTypes: z.array(z.string()),
        local: z.boolean(),
        pending: z.number(),
        running: z.number(),
        dead: z.number(),
        orphaned: z.number(),
      }),
    ),
    counts: z.record(z.string(), z.number()),
    lastPosition: positionSchema.nullable(),
  }),
});

/**
 * A JSON-safe deep copy: Dates as ISO strings, bigints as decimal strings, and every string
 * scrubbed of credentials (health details may quote a driver error).
 */
export function jsonSafe(value: unknown, depth = 0): unknown {
  if (depth > 20) return '[too deep]';
  if (typeof value === 'string') return maskSecrets(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Error) return maskSecrets(value.message);
  if (Array.isArray(value)) return value.map((v) => jsonSafe(v, depth + 1));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      out[k] = jsonSafe(v, depth + 1);
    }
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}

export function toStatusDto(status: CoordinatorStatus): z.output<typeof statusSchema>['coordinator'] {
  return jsonSafe(status) as z.output<typeof statusSchema>['coordinator'];
}
