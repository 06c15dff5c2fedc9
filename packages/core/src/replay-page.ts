import type { ReplayStatus } from './ports.js';

/** What one `continueReplay` step reads: see `planReplayPage`. */
export interface ReplayPagePlan {
  /** Events this step requeues at most: the page size, within what `maxEvents` leaves. */
  take: number;
  /** Rows to read: one past `take` tells "more to do" from "finished" without another query. */
  limit: number;
  /** Events `maxEvents` still allows. */
  remaining: number;
}

/** A replay's counters after one step: what the store writes back with the step. */
export interface ReplayPageOutcome<C> {
  status: ReplayStatus;
  /** The last event requeued, or the previous cursor when the page was empty. */
  cursor: C;
  eventsMatched: number;
  deliveriesQueued: number;
  /** More matching events than `maxEvents` allows: the replay ends here. */
  truncated: boolean;
}

/**
 * The next page of a replay that reads its window in position order after a cursor. A page size
 * below 1 counts as 1, so every step makes progress. Read `limit` rows, requeue the first `take`,
 * then ask `advanceReplay` where the replay stands.
 */
export function planReplayPage(
  job: { maxEvents: number; eventsMatched: number },
  pageSize: number,
): ReplayPagePlan {
  const remaining = Math.max(0, job.maxEvents - job.eventsMatched);
  const take = Math.min(Math.max(1, pageSize), remaining);
  return { take, limit: take + 1, remaining };
}

/**
 * Where a replay stands after a page planned by `planReplayPage`: `found` rows came back (at most
 * `plan.limit`), the first `plan.take` of them were requeued (the last of those is `last`),
 * queueing `queued` deliveries. `C` is the store's own cursor type (its position column).
 */
export function advanceReplay<C>(
  job: { eventsMatched: number; deliveriesQueued: number; cursor: C },
  plan: ReplayPagePlan,
  page: { found: number; last: C | undefined; queued: number },
): ReplayPageOutcome<C> {
  const more = page.found > plan.take;
  const truncated = more && plan.take === plan.remaining;
  return {
    status: more && !truncated ? 'running' : 'done',
    cursor: page.last ?? job.cursor,
    eventsMatched: job.eventsMatched + Math.min(page.found, plan.take),
    deliveriesQueued: job.deliveriesQueued + page.queued,
    truncated,
  };
}
