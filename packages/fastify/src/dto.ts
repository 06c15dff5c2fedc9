/**
 * What the API sends: zod schemas (they also make the OpenAPI document) and the mappings from
 * evco's types. Positions are decimal strings as in evco (JSON numbers lose precision past 2^53), times are
 * ISO-8601 UTC, and every free-text field that could echo a driver error is masked.
 */
import type {
  CausationNode,
  DeadLetter,
  DeliveryInfo,
  EventDetails,
  PrunedRange,
  RecordedEvent,
  ReplayReport,
  UnprocessedEvent,
} from '@evco/core';
import { maskSecrets } from '@evco/core';
import { z } from 'zod';

export const positionSchema = z
  .string()
  .regex(/^\d+$/)
  .describe('Global append order, as a decimal string (a 64-bit integer)');

export const errorSchema = z
  .object({
    error: z.object({
      code: z
        .string()
        .describe('Stable, e.g. EVENT_VALIDATION, UNKNOWN_EVENT_TYPE, CONCURRENCY, STORE_UNAVAILABLE'),
      message: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
      knownTypes: z.array(z.string()).optional(),
      requestId: z.string().optional(),
    }),
  })
  .describe('Every error: a stable code, a message without stack, path or secret, and the fields at fault');

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

/** One event and everything it caused, recursively (the causation tree, downwards). */
export interface CausationNodeDto {
  event: EventDto;
  children: CausationNodeDto[];
}

/** Registered by id: a recursive schema can only be a named component of the OpenAPI document. */
export const causationNodeSchema: z.ZodType<CausationNodeDto> = z
  .lazy(() => z.object({ event: recordedEventSchema, children: z.array(causationNodeSchema) }))
  .meta({ id: 'EvcoCausationNode', description: 'An event and the events it caused, recursively' });

export const eventDetailsSchema = z.object({
  event: recordedEventSchema,
  deliveries: z.array(deliverySchema).describe('One per handler'),
  causes: z.array(recordedEventSchema).describe('Root first, up to the direct cause; empty for a root event'),
  effects: z.array(causationNodeSchema).describe('Direct effects, each with its descendants'),
  truncated: z.boolean().describe('A size or depth limit cut the causes or the effects'),
});

function toNodeDto(node: CausationNode): CausationNodeDto {
  return { event: toEventDto(node.event), children: node.children.map(toNodeDto) };
}

export function toEventDetailsDto(d: EventDetails): z.output<typeof eventDetailsSchema> {
  return {
    event: toEventDto(d.event),
    deliveries: d.deliveries.map(toDeliveryDto),
    causes: d.causes.map(toEventDto),
    effects: d.effects.map(toNodeDto),
    truncated: d.truncated,
  };
}

export const prunedRangeSchema = z
  .object({
    eventType: z.string(),
    before: z.string().describe('Events of this type that occurred before this were removed by retention'),
    removed: z.number().int().describe('Events of this type removed so far'),
    lastPrunedAt: z.string(),
  })
  .describe('What retention removed from the range: events with an open or dead delivery stayed');

export function toPrunedDto(p: PrunedRange): z.output<typeof prunedRangeSchema> {
  return {
    eventType: p.eventType,
    before: p.before.toISOString(),
    removed: p.removed,
    lastPrunedAt: p.lastPrunedAt.toISOString(),
  };
}

export const replayProgressSchema = z.object({
  id: z.string(),
  status: z.enum(['running', 'done']).describe('running: pages are still being queued'),
  from: z.string(),
  to: z.string(),
  eventType: z.string().optional(),
  handler: z.string().optional(),
  maxEvents: z.number().int(),
  cursor: positionSchema.nullable().describe('Position of the last event queued'),
  eventsMatched: z.number().int(),
  deliveriesQueued: z.number().int(),
  truncated: z.boolean().describe('The range held more than maxEvents events'),
  createdAt: z.string(),
  updatedAt: z.string(),
  deliveriesOpen: z.number().int().describe('Queued by this replay, pending or running'),
  deliveriesDead: z.number().int().describe('Queued by this replay, ended in the dead letters'),
  done: z.boolean().describe('Every page queued and none of its deliveries open'),
  pruned: z
    .array(prunedRangeSchema)
    .describe('Per event type, what retention removed from the range: not replayed'),
});

export function toReplayDto(job: ReplayReport): z.output<typeof replayProgressSchema> {
  const dto: z.output<typeof replayProgressSchema> = {
    id: job.id,
    status: job.status,
    from: job.from.toISOString(),
    to: job.to.toISOString(),
    maxEvents: job.maxEvents,
    cursor: job.cursor === null ? null : String(job.cursor),
    eventsMatched: job.eventsMatched,
    deliveriesQueued: job.deliveriesQueued,
    truncated: job.truncated,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    deliveriesOpen: job.deliveriesOpen,
    deliveriesDead: job.deliveriesDead,
    done: job.done,
    pruned: job.pruned.map(toPrunedDto),
  };
  if (job.eventType !== undefined) dto.eventType = job.eventType;
  if (job.handler !== undefined) dto.handler = job.handler;
  return dto;
}

export const subscriptionSchema = z.looseObject({
  handler: z.string(),
  eventType: z.string(),
  ordering: z.enum(['aggregate', 'none']),
  expiresAt: z.string(),
  lastSeenAt: z.string(),
  lastSeenBy: z.string().describe('The coordinator that renewed it last'),
  local: z.boolean().optional().describe('This process runs it'),
  expired: z.boolean().optional().describe('Nobody renewed it in time: its pending deliveries are orphaned'),
});
