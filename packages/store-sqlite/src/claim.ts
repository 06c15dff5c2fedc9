import type { ClaimedDelivery, ClaimRequest, RecordedEvent } from '@evco/core/adapter';
import { type EventRow, iso, jsonIntegers, toRecordedEvent } from './codec.js';
import type { Periods } from './periods.js';
import type { Statements } from './statements.js';

interface Candidate {
  id: bigint;
  event_position: bigint;
}

interface LeasedRow {
  id: bigint;
  event_position: bigint;
  handler: string;
  attempts: bigint;
  is_replay: bigint;
}

/** Sorts claim candidates in place, oldest event first. */
function byPosition(candidates: Candidate[]): Candidate[] {
  return candidates.sort((a, b) =>
    a.event_position < b.event_position ? -1 : a.event_position > b.event_position ? 1 : 0,
  );
}

/**
 * The body of the claim transaction (run inside `db.transaction(…).immediate`): each handler's
 * due deliveries and expired leases that head their chain (`ready`, see `PROMOTE_CHAIN_HEAD`) are
 * picked, oldest first per handler and across handlers, and leased; the leased ones come back
 * with their events. Nothing else changes: an expired lease the claim does not take stays
 * running (see `SELECT_EXPIRED_FOR_HANDLER`).
 */
export function claimDue(s: Statements, periods: Periods, request: ClaimRequest): ClaimedDelivery[] {
  const now = iso(request.now);
  const handlers = [...new Set(request.handlers)];
  // A negative LIMIT means "no limit" to SQLite.
  const limit = Math.max(0, request.limit || 0);
  let candidates: Candidate[] = [];
  for (const handler of handlers) {
    const due = s.dueForHandler.all(handler, now, limit) as Candidate[];
    const expired = s.expiredForHandler.all(now, handler) as Candidate[];
    // Taken-over leases compete with the due ones: the handler's oldest go first.
    candidates.push(...(expired.length === 0 ? due : byPosition([...due, ...expired]).slice(0, limit)));
  }
  if (candidates.length === 0) return [];
  // Oldest first across handlers, so one busy handler cannot starve the others.
  if (handlers.length > 1) byPosition(candidates);
  candidates = candidates.slice(0, limit);
  const leaseExpiresAt = iso(new Date(request.now.getTime() + request.leaseMs));
  const leased = s.lease.all(
    request.consumerId,
    leaseExpiresAt,
    now,
    jsonIntegers(candidates.map((c) => c.id)),
    now,
  ) as LeasedRow[];
  const byId = new Map(leased.map((l) => [l.id, l]));
  const events = new Map<bigint, RecordedEvent>();
  const positions = [...new Set(leased.map((l) => l.event_position))];
  for (const row of periods.sync().eventsAt(positions) as EventRow[]) {
    events.set(row.position, toRecordedEvent(row));
  }
  const claimed: ClaimedDelivery[] = [];
  for (const c of candidates) {
    const l = byId.get(c.id);
    if (!l) continue;
    claimed.push({
      deliveryId: String(l.id),
      attempt: Number(l.attempts),
      handler: l.handler,
      isReplay: Number(l.is_replay) === 1,
      event: events.get(l.event_position)!,
    });
  }
  return claimed;
}
