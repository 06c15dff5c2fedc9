import {
  type DeliveryInfo,
  type DeliveryStatus,
  deepFreezeJson,
  type EventMetadata,
  type Position,
  parsePosition,
  type RecordedEvent,
  type ReplayJob,
  type SubscriptionInfo,
} from '@evco/core/adapter';
import { SOURCE } from './options.js';

/**
 * A caller's position cursor as the canonical text bound to an int8 parameter. Throws a typed
 * `INVALID_POSITION` before any query. (The driver hands int8 columns over as canonical text,
 * which is the public position as is.)
 */
export function cursorParam(value: Position, field: string): string {
  return parsePosition(value, field, { source: SOURCE }).toString();
}

/** Columns of `EVENT_COLUMNS` as the driver hands them over (int8 as text, timestamptz as Date). */
export interface EventRow {
  position: string;
  event_id: string;
  event_type: string;
  aggregate_id: string;
  aggregate_type: string | null;
  aggregate_version: string | null;
  event_data: Record<string, unknown>;
  metadata: EventMetadata;
  occurred_at: Date;
  recorded_at: Date;
}

export interface DeliveryRow {
  position: string;
  handler: string;
  run: string;
  delivery_status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
  is_replay: boolean;
  updated_at: Date;
}

export interface ReplayRow {
  replay_id: string;
  from_at: Date;
  to_at: Date;
  event_type: string | null;
  handler: string | null;
  max_events: number;
  /** Lowest position of the window (null: started before migration 3, no bound). */
  from_position: string | null;
  until_position: string;
  status: 'running' | 'done';
  cursor: string | null;
  events_matched: number;
  deliveries_queued: number;
  truncated: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface SubscriptionRow {
  handler: string;
  event_type: string;
  ordering: 'aggregate' | 'none';
  expires_at: Date;
  last_seen_at: Date;
  last_seen_by: string;
}

/** A stored event as a frozen `RecordedEvent`, optional fields absent rather than null. */
export function toEvent(row: EventRow): RecordedEvent {
  const event: { -readonly [K in keyof RecordedEvent]: RecordedEvent[K] } = {
    id: row.event_id,
    eventType: row.event_type,
    aggregateId: row.aggregate_id,
    eventData: deepFreezeJson(row.event_data),
    metadata: Object.freeze(row.metadata),
    occurredAt: row.occurred_at,
    position: row.position,
    recordedAt: row.recorded_at,
  };
  if (row.aggregate_type !== null) event.aggregateType = row.aggregate_type;
  if (row.aggregate_version !== null) event.aggregateVersion = Number(row.aggregate_version);
  return Object.freeze(event);
}

/**
 * A delivery is one run of one handler for one event: `<position>:<run>/<handler>`, readable
 * and parsed back by the store (the handler last: it may contain any character).
 */
export function deliveryId(position: string, run: string, handler: string): string {
  return `${position}:${run}/${handler}`;
}

export function toDelivery(row: DeliveryRow): DeliveryInfo {
  return {
    deliveryId: deliveryId(row.position, row.run, row.handler),
    handler: row.handler,
    status: row.delivery_status,
    attempts: row.attempts,
    nextAttemptAt: row.delivery_status === 'pending' ? row.next_attempt_at : null,
    lastError: row.last_error,
    isReplay: row.is_replay,
    updatedAt: row.updated_at,
  };
}

export function toReplayJob(row: ReplayRow): ReplayJob {
  const job: ReplayJob = {
    id: row.replay_id,
    from: row.from_at,
    to: row.to_at,
    maxEvents: row.max_events,
    status: row.status,
    cursor: row.cursor,
    eventsMatched: row.events_matched,
    deliveriesQueued: row.deliveries_queued,
    truncated: row.truncated,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.event_type !== null) job.eventType = row.event_type;
  if (row.handler !== null) job.handler = row.handler;
  return job;
}

export function toSubscription(row: SubscriptionRow): SubscriptionInfo {
  return {
    handler: row.handler,
    eventType: row.event_type,
    ordering: row.ordering,
    expiresAt: row.expires_at,
    lastSeenAt: row.last_seen_at,
    lastSeenBy: row.last_seen_by,
  };
}
