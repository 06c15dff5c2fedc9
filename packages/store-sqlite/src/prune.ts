import { randomUUID } from 'node:crypto';
import {
  formatPosition,
  InvalidOptionsError,
  type PruneBatch,
  type PruneRequest,
  parsePosition,
} from '@evco/core/adapter';
import { boundIso, iso, jsonIntegers } from './codec.js';
import { type Prepared, read, write } from './connection.js';
import { SOURCE } from './options.js';
import { type EventTable, pushTo } from './periods.js';
import * as SQL from './sql.js';

/** The lease that keeps prune batches of every process (and replays) apart. */
export const PRUNE_LOCK = 'evco:prune-batch';
/**
 * The prune lock's lease: renewed every third of it while the batch's archive hook runs (core
 * bounds the hook by `archiveTimeoutMs`), so only a pruner that stopped (a crash) loses it, to
 * the next pruner, once it expires.
 */
export const PRUNE_LOCK_MS = 120_000;
/**
 * Free pages given back to the file system after each prune batch (4 KiB each by default): up
 * to this many, or half a page per removed event if more (a period's DROP frees about a fifth
 * of a page per event, so the space comes back before the next period is dropped).
 */
const VACUUM_PAGES_PER_BATCH = 2048;
/**
 * The pages of one `incremental_vacuum` step; the batch yields to the event loop between steps,
 * so moving pages does not hold up the process's other work for long at once.
 */
const VACUUM_STEP_PAGES = 256;
/**
 * Free pages left in the file for appends to reuse (SQLite allocates from the free list before
 * growing the file): up to an eighth of the file, at most this many (32 MiB at 4 KiB); once the
 * store has dropped a period, up to what that drop freed (a period's worth, which the appends
 * until the next drop refill), at most half the file. Moving pages to give them back costs more
 * than the delete that freed them (about 12 µs a page moved, and its checkpoint after).
 */
const VACUUM_RESERVE_PAGES = 8192;

export function checkPruneRequest(request: PruneRequest): void {
  if (!Number.isSafeInteger(request.limit) || request.limit < 1) {
    throw new InvalidOptionsError(
      'prune request',
      [{ path: 'limit', message: 'must be a positive integer' }],
      {
        source: SOURCE,
      },
    );
  }
}

/** What a connection that prunes remembers between batches. */
export interface PruneState {
  /**
   * The pages the last period this connection dropped freed: a period's worth, which appends
   * reuse before the file grows, so `reclaimSpace` keeps up to that many (0 until one is dropped).
   */
  periodPages: number;
}

/** A batch as removed: how many candidates were found, the last one chosen, how many went. */
export interface PrunedBatch {
  found: number;
  last: ChosenBatch['last'];
  removed: number;
}

/** The choice's parameters for a checked request. Throws `INVALID_POSITION` for a bad cursor. */
export function pruneParams(request: PruneRequest): PruneParams {
  return {
    before: boundIso(request.before),
    afterAt: request.after ? boundIso(request.after.occurredAt) : '',
    afterPosition: request.after ? parsePosition(request.after.position, 'after.position') : 0n,
    types: request.eventTypes ? JSON.stringify(request.eventTypes) : null,
    excluded: request.excludeEventTypes?.length ? JSON.stringify(request.excludeEventTypes) : null,
    limit: request.limit + 1,
  };
}

/** A removed batch's result: the cursor when more were found than the batch's `limit`. */
export function prunedResult(batch: PrunedBatch, limit: number): PruneBatch {
  const { last } = batch;
  return {
    removed: batch.removed,
    next: last && batch.found > limit ? { occurredAt: last.occurredAt, position: last.position } : null,
  };
}

/**
 * Removes a chosen batch, under the write lock (`removeBatch`, then the keys, deliveries and
 * versions of what it removed, and the pruned ranges). Returns how many it removed.
 */
export function removeChosen(
  p: Prepared,
  state: PruneState,
  positions: bigint[],
  before: Date,
  now: string,
): number {
  const batch = removeBatch(p, positions);
  if (batch.droppedPages > 0) state.periodPages = batch.droppedPages;
  if (batch.removed === 0) return 0;
  // What the walk passed goes by position range (its kept events left out), the rest by list.
  const { walked, listed } = batch;
  if (walked) {
    const kept = jsonIntegers(walked.kept);
    p.s.deleteDeliveriesRange.run(walked.from, walked.to, kept);
    p.s.deleteEventKeysRange.run(walked.from, walked.to, kept);
  }
  if (listed.length > 0) {
    const positions = jsonIntegers(listed.map((g) => g.position));
    p.s.deleteDeliveriesOfEvents.run(positions);
    p.s.deleteEventKeys.run(positions);
    deleteVersions(p, listed);
  }
  for (const [type, n] of batch.byType) p.s.recordPruned.run(type, iso(before), n, now);
  return batch.removed;
}

/**
 * Runs one unit of work (a transaction, or statements each committed alone) on a pruning
 * connection: the store's (`#write`: errors translated, the file checked) or the worker's
 * (`onConnection`). It waits for locks as that connection does, and throws to stop (the store
 * closing).
 */
export type OnConnection = <T>(step: (p: Prepared) => T) => T;

/** A batch without an archive, as checked: its choice's parameters and what its removal records. */
export interface PruneBatchRequest {
  params: PruneParams;
  limit: number;
  before: Date;
  now: Date;
}

/**
 * A batch without an archive, chosen in a read transaction and removed in one short write
 * transaction, with no lease (the prune worker's). `removeBatch` decides again under the write
 * lock what must stay (open and dead deliveries, running replays' windows), the watermark moves
 * only from where it is then, and a position another batch removed meanwhile is simply not
 * found, so a choice made outside the lock removes nothing it should not, and two pruners remove
 * each event once. The one thing it must not do is remove events that a batch with an archive
 * has chosen and is archiving: that batch holds the lease from its choice to its removal, so
 * while the lease is held this batch takes its turn through it instead (`pruneLeased`). One
 * write transaction per batch instead of two (the lease taken, then given back with the
 * removal), each of which waits for the application's commits.
 */
export async function pruneChosenThenRemoved(
  run: OnConnection,
  state: PruneState,
  batch: PruneBatchRequest,
  pause: (ms: number) => Promise<void>,
): Promise<PrunedBatch> {
  const now = iso(batch.now);
  const chosen = run((p) => read(p, () => chooseKeys(p, batch.params, batch.limit)));
  if (!chosen.last) return { found: chosen.found, last: undefined, removed: 0 };
  const removed = run((p) =>
    write(p, () =>
      p.s.leaseHeld.get(PRUNE_LOCK, now)
        ? undefined
        : removeChosen(p, state, chosen.positions, batch.before, now),
    ),
  );
  if (removed === undefined) return pruneLeased(run, state, batch, pause);
  return { found: chosen.found, last: chosen.last, removed };
}

/**
 * A batch without an archive in the leased form, for when another batch holds the lease: the
 * lease taken (tried again after `pause`, which may throw to give up: the store closing), the
 * batch chosen in a read transaction, removed (and the lease given back) in one short write
 * transaction. The choice holds no lock, so writes on other connections wait only for the
 * removal.
 */
export async function pruneLeased(
  run: OnConnection,
  state: PruneState,
  batch: PruneBatchRequest,
  pause: (ms: number) => Promise<void>,
): Promise<PrunedBatch> {
  const holder = randomUUID();
  const now = iso(batch.now);
  const expires = iso(new Date(batch.now.getTime() + PRUNE_LOCK_MS));
  while (!run((p) => write(p, () => p.s.acquireLease.get(PRUNE_LOCK, holder, expires, now) !== undefined))) {
    await pause(10);
  }
  let held = true;
  try {
    const chosen = run((p) => read(p, () => chooseKeys(p, batch.params, batch.limit)));
    const removed = run((p) =>
      write(p, () => {
        const n = chosen.last ? removeChosen(p, state, chosen.positions, batch.before, now) : 0;
        p.s.releaseLease.run(PRUNE_LOCK, holder);
        return n;
      }),
    );
    held = false;
    return { found: chosen.found, last: chosen.last, removed };
  } finally {
    if (held) {
      try {
        run((p) => write(p, () => p.s.releaseLease.run(PRUNE_LOCK, holder)));
      } catch {
        // The lease expires by itself (PRUNE_LOCK_MS).
      }
    }
  }
}

/**
 * Gives free pages back a few at a time (a no-op unless the file is incremental): the free
 * list beyond its reserve, up to the batch's share, in steps between which others run. `run`
 * runs a step on the connection (and throws to stop: the store closing).
 */
export async function reclaimSpace(run: OnConnection, state: PruneState, removed: number): Promise<void> {
  try {
    let left = run((p) => {
      const free = freePages(p);
      if (free === 0) return 0;
      const pages = Number(p.db.pragma('page_count', { simple: true }));
      // A period's worth stays (appends refill it before the file grows), up to half the
      // file; before this connection has dropped a period, the smaller reserve.
      const reserve = Math.max(
        Math.min(VACUUM_RESERVE_PAGES, Math.floor(pages / 8)),
        Math.min(state.periodPages, Math.floor(pages / 2)),
      );
      return Math.min(free - reserve, Math.max(VACUUM_PAGES_PER_BATCH, Math.ceil(removed / 2)));
    });
    while (left > 0) {
      const step = Math.min(left, VACUUM_STEP_PAGES);
      run((p) => p.db.pragma(`incremental_vacuum(${step})`));
      left -= step;
      if (left > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  } catch {
    // Space comes back at the next batch; the prune itself is committed.
  }
}

/** A prune batch's choice: the statements' parameters (`limit`: the batch and one more). */
export type PruneParams = {
  before: string;
  afterAt: string;
  afterPosition: bigint;
  types: string | null;
  excluded: string | null;
  limit: number;
};

interface CandidateKey {
  position: bigint;
  occurred_at: string;
}

/**
 * A prune batch's candidates (`limit` of them, the statement's `:limit`), oldest first by time
 * then position. `full` checks what must stay per candidate; with no replay running (one probe
 * per batch, in the same snapshot as the choice) what must stay is an event with a delivery not
 * done, so `unchecked` reads the candidates without that check, one probe of the open deliveries
 * per run of neighbouring positions leaves those out, and the batch is topped up from after the
 * last candidate read until it is full or nothing is left: the same rows as `full`, in the same
 * transaction (the caller's).
 */
export function pruneCandidates<R extends CandidateKey>(
  p: Prepared,
  full: string,
  unchecked: string,
  params: PruneParams,
): R[] {
  if (p.s.anyRunningReplay.get() !== undefined) return mergedCandidates<R>(p, full, params);
  let chosen: R[] = [];
  let after = { afterAt: params.afterAt, afterPosition: params.afterPosition };
  for (;;) {
    const need = params.limit - chosen.length;
    const rows = mergedCandidates<R>(p, unchecked, { ...params, ...after, limit: need });
    if (rows.length === 0) break;
    const open = openAmong(p, rows);
    const kept = open.size === 0 ? rows : rows.filter((r) => !open.has(r.position));
    chosen = chosen.length === 0 ? kept : [...chosen, ...kept];
    if (rows.length < need || chosen.length >= params.limit) break;
    const last = rows[rows.length - 1]!;
    after = { afterAt: last.occurred_at, afterPosition: last.position };
  }
  return chosen;
}

/** A batch's chosen positions, how many candidates were found (one more than the limit when more
 * are left) and the last chosen one for the cursor. */
export interface ChosenBatch {
  found: number;
  positions: bigint[];
  last: { occurredAt: Date; position: string } | undefined;
}

/**
 * The keys of a batch without an archive (`limit` and one more to know whether more are left),
 * kept as read (no string or Date per event): only the cursor's are converted. Call inside a
 * transaction.
 */
export function chooseKeys(p: Prepared, params: PruneParams, limit: number): ChosenBatch {
  const rows = pruneCandidates(
    p,
    SQL.SELECT_PRUNE_CANDIDATE_KEYS,
    SQL.SELECT_PRUNE_CANDIDATE_KEYS_UNCHECKED,
    params,
  );
  const positions = rows.slice(0, limit).map((r) => r.position);
  const end = rows[positions.length - 1];
  return {
    found: rows.length,
    positions,
    last: end && { occurredAt: new Date(end.occurred_at), position: formatPosition(end.position) },
  };
}

/**
 * A gap between candidates' positions wider than this starts another probe of the open
 * deliveries, so a probe never reads the open deliveries of a long stretch of events that are
 * not candidates (the kept table's old positions beside a batch of recent ones).
 */
const OPEN_PROBE_GAP = 1024n;

/** The candidates' positions with a delivery not done: one range probe per run of neighbours. */
function openAmong(p: Prepared, rows: readonly CandidateKey[]): Set<bigint> {
  const positions = rows.map((r) => r.position);
  for (let i = 1; i < positions.length; i++) {
    if (positions[i]! < positions[i - 1]!) {
      positions.sort(compareBigints);
      break;
    }
  }
  const open = new Set<bigint>();
  let lo = positions[0]!;
  for (let i = 0; i < positions.length; i++) {
    const hi = positions[i]!;
    const next = positions[i + 1];
    if (next !== undefined && next - hi <= OPEN_PROBE_GAP) continue;
    for (const r of p.s.openInRange.iterate(lo, hi) as Iterable<{ position: bigint }>) open.add(r.position);
    if (next !== undefined) lo = next;
  }
  return open;
}

/**
 * Candidates of `statement` merged over the tables, oldest first: each table is asked only for
 * candidates before the last one kept so far, so with events appended in time order the later
 * periods find none at the cost of one probe of their time index.
 */
function mergedCandidates<R extends CandidateKey>(p: Prepared, statement: string, params: PruneParams): R[] {
  let rows: R[] = [];
  let untilAt = '~';
  let untilPosition = 0n;
  for (const t of p.periods.sync().tables('asc')) {
    const found = p.periods
      .on(t.table, statement, t.watermarked)
      .all({ ...params, untilAt, untilPosition }) as R[];
    if (found.length === 0) continue;
    rows = rows.length === 0 ? found : [...rows, ...found].sort(byTimeThenPosition);
    if (rows.length >= params.limit) {
      rows.length = params.limit;
      const last = rows[rows.length - 1]!;
      untilAt = last.occurred_at;
      untilPosition = last.position;
    }
  }
  return rows;
}

function byTimeThenPosition(a: CandidateKey, b: CandidateKey): number {
  if (a.occurred_at !== b.occurred_at) return a.occurred_at < b.occurred_at ? -1 : 1;
  return compareBigints(a.position, b.position);
}

function compareBigints(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A removed event, for its keys, deliveries and pruned range. */
interface GoneRow {
  position: bigint;
  event_type: string;
  aggregate_id: string;
  aggregate_version: bigint | number | null;
}

/**
 * What `removeBatch` removed: how many, by type; `walked`, the range the watermark passed (its
 * events' versions deleted already; keys and deliveries to delete by range, `kept` left out);
 * `listed`, the events removed row by row (keys, deliveries and versions to delete by list).
 */
interface RemovedBatch {
  removed: number;
  /** The pages the periods dropped in this batch freed (0 when none was dropped). */
  droppedPages: number;
  byType: Map<string, number>;
  walked: { from: bigint; to: bigint; kept: bigint[] } | undefined;
  listed: GoneRow[];
}

/** Adds `n` to the count under `key`. */
function count(counts: Map<string, number>, key: string, n: number): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

function deleteVersions(p: Prepared, rows: readonly GoneRow[]): void {
  const versions = rows.filter((g) => g.aggregate_version !== null);
  if (versions.length === 0) return;
  p.s.deleteEventVersions.run(
    `[${versions.map((g) => `[${JSON.stringify(g.aggregate_id)},${g.aggregate_version}]`).join(',')}]`,
  );
}

/**
 * Removes a batch (positions chosen by `pruneCandidates`) under the write lock. The watermark
 * first: walking the periods from it in position order, every event is either in the batch
 * (removed without deleting its row), must stay (copied to the kept table) or stops the walk;
 * the watermark moves to where the walk stopped, and the periods it has passed whole are
 * dropped. What must stay is decided here, under the lock. With no replay running it is an
 * event with a delivery not done, found for the whole range by one probe of the open
 * deliveries, and one count per table says whether any event in the range is neither in the
 * batch nor staying: if none, the walk passes the range without reading its rows (the oldest
 * events in time order, the common case). Otherwise (a replay running: its window keeps events
 * too; or an event that stops the walk) the rows are walked one by one. What the walk did not
 * reach (events below the watermark, in the kept table, or past an event that stopped it: out
 * of time order, another type) is deleted row by row, checked again for what must stay.
 */
function removeBatch(p: Prepared, positions: bigint[]): RemovedBatch {
  const periods = p.periods.sync();
  const w = periods.watermark;
  let max = positions[0]!;
  for (const position of positions) if (position > max) max = position;
  const tables = periods.tables('asc').filter((t) => !t.kept && t.lo <= max);
  let next = w;
  // The range passed without reading its rows: the positions in it that stay.
  let open: bigint[] | undefined;
  // Or walked row by row: the events passed and those that stay, by table.
  const gone: GoneRow[] = [];
  const keep = new Map<string, bigint[]>();
  if (max >= w) {
    // Under the lock: no delivery opens and no replay starts until the batch commits.
    if (p.s.anyRunningReplay.get() === undefined) open = passable(p, tables, positions, w, max);
    if (open) {
      next = max + 1n;
    } else {
      const batch = new Set(positions);
      let stopped = false;
      for (const t of tables) {
        for (const r of periods.on(t.table, SQL.SELECT_PREFIX).iterate(t.lo, max) as Iterable<
          GoneRow & { stay: bigint }
        >) {
          if (r.stay === 1n) {
            pushTo(keep, t.table, r.position);
          } else if (batch.has(r.position)) {
            gone.push(r);
          } else {
            stopped = true;
            next = r.position;
            break;
          }
        }
        if (stopped) break;
      }
      if (!stopped) next = max + 1n;
    }
  }
  const byType = new Map<string, number>();
  let removed = 0;
  let walked: RemovedBatch['walked'];
  let droppedPages = 0;
  if (next > w && Number(p.s.moveWatermark.run(next, w).changes) === 1) {
    if (open) {
      const staying = jsonIntegers(open);
      for (const t of tables) {
        let versions = 0n;
        for (const r of periods
          .on(t.table, SQL.COUNT_PREFIX_BY_TYPE)
          .iterate(t.lo, max, staying) as Iterable<{
          event_type: string;
          n: bigint;
          versions: bigint;
        }>) {
          count(byType, r.event_type, Number(r.n));
          removed += Number(r.n);
          versions += r.versions;
        }
        if (versions > 0n) periods.on(t.table, SQL.DELETE_PREFIX_VERSIONS).run(t.lo, max, staying);
        const end = t.end;
        const here = open.filter((position) => position >= t.lo && (end === undefined || position < end));
        if (here.length > 0) keep.set(t.table, here);
      }
    } else {
      deleteVersions(p, gone);
      for (const g of gone) count(byType, g.event_type, 1);
      removed = gone.length;
    }
    const kept: bigint[] = [];
    for (const [table, list] of keep) {
      const below = list.filter((position) => position < next);
      if (below.length > 0) periods.on(table, SQL.COPY_TO_KEPT).run(jsonIntegers(below));
      kept.push(...below);
    }
    for (const period of periods.list) {
      if (period.end !== undefined && period.end <= next) {
        const free = freePages(p);
        p.db.exec(SQL.withPrefix(SQL.DROP_PERIOD(period.n), p.prefix));
        droppedPages += freePages(p) - free;
        periods.invalidate();
      }
    }
    walked = { from: w, to: next, kept };
  } else {
    next = w;
  }
  // The rest, row by row (tables as they were at the batch's start); those the walk passed are
  // gone or kept.
  const listed: GoneRow[] = [];
  const rest = positions.filter((position) => position < w || position >= next);
  for (const [table, list] of periods.byTable(rest)) {
    for (const r of periods.on(table, SQL.DELETE_PRUNED_EVENTS).all(jsonIntegers(list)) as GoneRow[]) {
      listed.push(r);
      count(byType, r.event_type, 1);
    }
  }
  return { removed: removed + listed.length, droppedPages, byType, walked, listed };
}

/**
 * Whether the walk can pass [w, max] without reading its rows (no replay running): what must
 * stay is then an event with a delivery not done (one probe of the open deliveries), and a count
 * per table says whether any other event there is outside the batch. The staying positions if it
 * can, undefined if not (the caller walks row by row).
 */
function passable(
  p: Prepared,
  tables: readonly EventTable[],
  positions: readonly bigint[],
  w: bigint,
  max: bigint,
): bigint[] | undefined {
  const open: bigint[] = [];
  for (const r of p.s.openInRange.iterate(w, max) as Iterable<{ position: bigint }>) open.push(r.position);
  const allowed = jsonIntegers([...positions.filter((position) => position >= w), ...open]);
  for (const t of tables) {
    const c = p.periods.on(t.table, SQL.COUNT_PREFIX_OTHERS).get(t.lo, max, allowed) as { others: bigint };
    if (c.others !== 0n) return undefined;
  }
  return open;
}

/** The file's free pages (`freelist_count`). */
function freePages(p: Prepared): number {
  return Number(p.db.pragma('freelist_count', { simple: true }));
}
