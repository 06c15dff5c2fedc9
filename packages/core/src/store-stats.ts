import type { HandlerStats, StoreStats } from './ports.js';
import type { Position } from './position.js';

/**
 * Open deliveries of one handler as a store counts them: one row per handler, or several (one
 * per status, say) that add up.
 */
export interface HandlerBacklog {
  handler: string;
  pending?: number | undefined;
  running?: number | undefined;
  dead?: number | undefined;
  /** Creation time of the oldest pending or running delivery the row counts (null or absent: none). */
  oldestPendingAt?: Date | null | undefined;
}

/**
 * `EventStore.stats()` from what a store counted, the same way in every store: rows of one handler
 * add up; a handler is listed when it has an open or dead delivery or a live subscription; its
 * pending deliveries are `orphaned` when nobody renews a subscription of it any more; the totals
 * and the oldest pending or running delivery are taken across handlers; handlers are sorted by
 * name (`localeCompare`, as in every view).
 */
export function summarizeStats(counted: {
  /** Highest position written, `null` when empty. */
  lastPosition: Position | null;
  /** Events with at least one delivery not done. */
  unprocessedEvents: number;
  backlog: Iterable<HandlerBacklog>;
  /** Handlers with an unexpired subscription (duplicates are fine). */
  live: Iterable<string>;
}): StoreStats {
  const byHandler = new Map<string, HandlerStats>();
  const entry = (handler: string): HandlerStats => {
    let h = byHandler.get(handler);
    if (!h) {
      h = { handler, pending: 0, running: 0, dead: 0, orphaned: 0, oldestPendingAt: null };
      byHandler.set(handler, h);
    }
    return h;
  };
  for (const row of counted.backlog) {
    const pending = row.pending ?? 0;
    const running = row.running ?? 0;
    const dead = row.dead ?? 0;
    // A handler whose every delivery is done is not worth a line (unless it is live, below).
    if (pending + running + dead === 0) continue;
    const h = entry(row.handler);
    h.pending += pending;
    h.running += running;
    h.dead += dead;
    const at = row.oldestPendingAt;
    if (at && (!h.oldestPendingAt || at < h.oldestPendingAt)) h.oldestPendingAt = at;
  }
  const live = new Set(counted.live);
  for (const handler of live) entry(handler);
  const stats: StoreStats = {
    lastPosition: counted.lastPosition,
    pending: 0,
    running: 0,
    dead: 0,
    unprocessedEvents: counted.unprocessedEvents,
    oldestPendingAt: null,
    orphaned: 0,
    handlers: [...byHandler.values()].sort((a, b) => a.handler.localeCompare(b.handler)),
  };
  for (const h of stats.handlers) {
    if (!live.has(h.handler)) h.orphaned = h.pending;
    stats.pending += h.pending;
    stats.running += h.running;
    stats.dead += h.dead;
    stats.orphaned += h.orphaned;
    const at = h.oldestPendingAt;
    if (at && (!stats.oldestPendingAt || at < stats.oldestPendingAt)) stats.oldestPendingAt = at;
  }
  return stats;
}
