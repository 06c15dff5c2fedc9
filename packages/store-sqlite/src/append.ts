import { type DomainEvent, EventValidationError, type ValidationIssue } from '@evco/core/adapter';
import { isStorableTime } from './codec.js';
import { SOURCE } from './options.js';
import type { Periods } from './periods.js';
import { INSERT_EVENT } from './sql.js';
import type { Statements } from './statements.js';

/** An event as bound to `INSERT_EVENT`, serialized before the write lock is taken. */
export interface EventInsert {
  id: string;
  eventType: string;
  aggregateId: string;
  aggregateType: string | null;
  aggregateVersion: number | null;
  data: string;
  metadata: string;
  occurredAt: string;
}

/** Which event of a batch failed, and whether its id was already taken (stored or earlier in the batch). */
export interface AppendFailure {
  index: number;
  idTaken: boolean;
}

interface Subscriber {
  handler: string;
  ordering: string;
}

/** Serializes before taking the write lock, and refuses dates the text encoding cannot order. */
export function toEventInserts(events: readonly DomainEvent[]): EventInsert[] {
  const rows: EventInsert[] = new Array(events.length);
  const issues: ValidationIssue[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const t = e.occurredAt.getTime();
    if (!isStorableTime(t)) {
      issues.push({ path: `[${i}].occurredAt`, message: 'must be between the years 0000 and 9999' });
      continue;
    }
    rows[i] = {
      id: e.id,
      eventType: e.eventType,
      aggregateId: e.aggregateId,
      aggregateType: e.aggregateType ?? null,
      aggregateVersion: e.aggregateVersion ?? null,
      data: JSON.stringify(e.eventData),
      metadata: JSON.stringify(e.metadata),
      occurredAt: e.occurredAt.toISOString(),
    };
  }
  if (issues.length > 0) throw new EventValidationError(issues, { source: SOURCE });
  return rows;
}

/**
 * The body of the append transaction (run inside `db.transaction`, immediate or as a savepoint of
 * the application's transaction): each event, then one delivery per live subscription of its
 * type. Returns the positions and the number of deliveries per event; on a failure, `failedAt`
 * says which event and whether its id was taken, for the caller's typed error.
 */
export function appendEvents(
  s: Statements,
  periods: Periods,
  rows: EventInsert[],
  now: string,
  failedAt: AppendFailure,
): [bigint[], number[]] {
  const positions: bigint[] = new Array(rows.length);
  const deliveries: number[] = new Array(rows.length);
  // Subscriptions are read inside the write transaction, so a handler registered by any
  // process before this commit gets its delivery; cached per type for the batch.
  const subscribers = new Map<string, Subscriber[]>();
  periods.sync();
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    failedAt.index = i;
    // The id first: a known id must win (as in the reference store), so that re-publishing a
    // versioned event reads as a duplicate. Earlier events of this batch count too.
    failedAt.idTaken = true;
    const position = s.insertEventKey.run(r.id).lastInsertRowid as bigint;
    failedAt.idTaken = false;
    if (r.aggregateVersion !== null) s.insertEventVersion.run(r.aggregateId, r.aggregateVersion, position);
    periods
      .on(periods.tableForAppend(position), INSERT_EVENT)
      .run(
        position,
        r.id,
        r.eventType,
        r.aggregateId,
        r.aggregateType,
        r.aggregateVersion,
        r.data,
        r.metadata,
        r.occurredAt,
        now,
      );
    let subs = subscribers.get(r.eventType);
    if (!subs) {
      subs = s.liveSubscriptionsOfType.all(r.eventType, now) as Subscriber[];
      subscribers.set(r.eventType, subs);
    }
    for (const sub of subs) {
      const ordered = sub.ordering === 'aggregate' ? 1 : 0;
      s.insertDelivery.run(
        position,
        sub.handler,
        r.aggregateId,
        ordered,
        now,
        now,
        now,
        ordered,
        sub.handler,
        r.aggregateId,
      );
    }
    positions[i] = position;
    deliveries[i] = subs.length;
  }
  return [positions, deliveries];
}
