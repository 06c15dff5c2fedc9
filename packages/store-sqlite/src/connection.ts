import type { ClaimedDelivery, ClaimRequest } from '@evco/core/adapter';
import type Database from 'better-sqlite3';
import { type AppendFailure, appendEvents, type EventInsert } from './append.js';
import { claimDue } from './claim.js';
import { sqliteCode } from './errors.js';
import { Periods } from './periods.js';
import { prepareStatements, type Statements } from './statements.js';

type Transaction<A extends unknown[], R> = Database.Transaction<(...args: A) => R>;

/** Everything prepared once per connection. */
export interface Prepared {
  db: Database.Database;
  s: Statements;
  append: Transaction<[rows: EventInsert[], now: string, failedAt: AppendFailure], [bigint[], number[]]>;
  claim: Transaction<[request: ClaimRequest], ClaimedDelivery[]>;
  /** Runs a function in a transaction: `.immediate` to write, `.deferred` for a consistent read. */
  tx: Transaction<[fn: () => unknown], unknown>;
  /** The period tables; `sync()` them first in each transaction that touches events. */
  periods: Periods;
  prefix: string;
  /**
   * How long a unit of work waits for the write lock in short steps (`untilNotBusy`), on a
   * connection whose own busy handler is off (`busy_timeout = 0`); undefined on a connection
   * that keeps SQLite's busy handler (a \`database\` passed in).
   */
  patienceMs: number | undefined;
}

export function write<T>(p: Prepared, fn: () => T): T {
  return p.tx.immediate(fn) as T;
}

export function read<T>(p: Prepared, fn: () => T): T {
  return p.tx.deferred(fn) as T;
}

export function prepare(
  db: Database.Database,
  prefix: string,
  periodEvents: number,
  patienceMs?: number | undefined,
): Prepared {
  const s = prepareStatements(db, prefix);
  const periods = new Periods(db, prefix, periodEvents);
  return {
    db,
    s,
    append: db.transaction((rows: EventInsert[], now: string, failedAt: AppendFailure) =>
      appendEvents(s, periods, rows, now, failedAt),
    ),
    claim: db.transaction((request: ClaimRequest) => claimDue(s, periods, request)),
    tx: db.transaction((fn: () => unknown) => fn()),
    periods,
    prefix,
    patienceMs,
  };
}

/** Runs a unit of work on `p` (a whole transaction, or statements each their own), waiting for locks as `p` does. */
export function onConnection<T>(p: Prepared, fn: () => T): T {
  return p.patienceMs === undefined ? fn() : untilNotBusy(fn, p.patienceMs);
}

/** A lock wait's first stretch: steps this short, so a wait ends within this of the lock's release. */
const FINE_STEP_MS = 0.2;
/** How long a wait keeps the short steps before slowing to SQLite's own pace. */
const FINE_WAIT_MS = 20;
/** SQLite's busy handler's sleeps (sqlite3.c, `sqliteDefaultBusyCallback`), the last repeated. */
const HANDLER_PACE_MS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));

/**
 * `step()`, tried again while it fails with `SQLITE_BUSY`, for up to `patienceMs`; then the
 * `SQLITE_BUSY` error as it was (translated by the caller like any other). `step` must be a unit
 * that a `BUSY` left undone: a transaction (its `BEGIN IMMEDIATE` is what meets the lock, or it
 * rolled back), or statements that each commit on their own.
 *
 * Why not SQLite's busy handler: it sleeps 1, 2, 5, 10 … ms on the waiting thread, so an append
 * that meets another connection's commit (the store's prune worker, another process) waits
 * milliseconds for a lock held for a fraction of one; at thousands of appends a second that is
 * most of the thread. Here the first `FINE_WAIT_MS` are waited in `FINE_STEP_MS` steps, then at
 * the handler's pace. Waits block the thread, as better-sqlite3's statements and the busy
 * handler do. Also used at open: switching to WAL takes a write lock, and a connection that holds
 * a read lock meets `BUSY` at once where its busy handler's waiting could deadlock (seen in CI: a
 * worker of a two-process fleet failing at startup, within a second, with "database is locked").
 */
export function untilNotBusy<T>(step: () => T, patienceMs: number): T {
  let started: number | undefined;
  let slow = 0;
  for (;;) {
    try {
      return step();
    } catch (error) {
      if (!sqliteCode(error)?.startsWith('SQLITE_BUSY')) throw error;
      const now = performance.now();
      started ??= now;
      const waited = now - started;
      const pause =
        waited < FINE_WAIT_MS ? FINE_STEP_MS : HANDLER_PACE_MS[Math.min(slow++, HANDLER_PACE_MS.length - 1)]!;
      if (waited + pause > patienceMs) throw error;
      Atomics.wait(sleepBuffer, 0, 0, pause);
    }
  }
}
