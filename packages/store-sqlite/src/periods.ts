import type Database from 'better-sqlite3';
import type { EventRow } from './codec.js';
import { jsonIntegers } from './codec.js';
import * as SQL from './sql.js';
import type { Statement } from './statements.js';

/** One period table: positions from `first` up to the next period's `first` (the newest: open). */
export interface Period {
  n: number;
  first: bigint;
  /** The next period's first position; undefined for the newest. */
  end: bigint | undefined;
  table: string;
}

/** A table a statement runs on: a period, or the kept table (positions below the watermark). */
export interface EventTable {
  table: string;
  kept: boolean;
  /** Positions it may hold: [lo, end). */
  lo: bigint;
  /** The watermark lies inside it: rows below `lo` are pruned but still there. */
  watermarked: boolean;
  end: bigint | undefined;
}

const WATERMARK = ` AND position >= (SELECT watermark FROM "{p}prune_state")`;
const W_WATERMARK = ` AND w.position >= (SELECT watermark FROM "{p}prune_state")`;

/**
 * The period tables of one connection: which exist (read again whenever the schema cookie
 * changed: a period created or dropped by any connection), the watermark and whether the kept
 * table holds anything (read at the start of every operation, in its transaction), and the
 * statements prepared per table.
 */
export class Periods {
  readonly #db: Database.Database;
  readonly #prefix: string;
  readonly #periodEvents: bigint;
  readonly #state: Statement;
  readonly #registry: Statement;
  readonly #statements = new Map<string, Statement>();
  #cookie = -1;
  list: Period[] = [];
  watermark = 0n;
  keptRows = false;

  constructor(db: Database.Database, prefix: string, periodEvents: number) {
    this.#db = db;
    this.#prefix = prefix;
    this.#periodEvents = BigInt(periodEvents);
    this.#state = db.prepare(SQL.withPrefix(SQL.SELECT_PERIOD_STATE, prefix)).safeIntegers(true);
    this.#registry = db.prepare(SQL.withPrefix(SQL.SELECT_PERIODS, prefix)).safeIntegers(true);
  }

  get keptTable(): string {
    return `${this.#prefix}events_kept`;
  }

  /** Reads the state; call inside the operation's transaction, before any other use. */
  sync(): this {
    const row = this.#state.get() as { sv: bigint; watermark: bigint; kept: bigint };
    this.watermark = row.watermark;
    this.keptRows = row.kept === 1n;
    const cookie = Number(row.sv);
    if (cookie !== this.#cookie) {
      const rows = this.#registry.all() as Array<{ n: bigint; first_position: bigint }>;
      this.list = rows.map((r, i) => ({
        n: Number(r.n),
        first: r.first_position,
        end: rows[i + 1]?.first_position,
        table: `${this.#prefix}events_${Number(r.n)}`,
      }));
      // Statements of dropped tables would fail; the rest are prepared again on first use.
      this.#statements.clear();
      this.#cookie = cookie;
    }
    return this;
  }

  /**
   * The statement `sql` (a template with `{e}`, `{lo}`, `{wlo}`) on `table`, with the
   * watermark's bound when the watermark lies inside the table.
   */
  on(table: string, sql: string, watermarked = false): Statement {
    const key = `${table}\u0000${watermarked ? 1 : 0}\u0000${sql}`;
    let statement = this.#statements.get(key);
    if (!statement) {
      const text = sql
        .replaceAll('{e}', `"${table}"`)
        .replaceAll('{lo}', watermarked ? WATERMARK : '')
        .replaceAll('{wlo}', watermarked ? W_WATERMARK : '');
      statement = this.#db.prepare(SQL.withPrefix(text, this.#prefix)).safeIntegers(true);
      this.#statements.set(key, statement);
    }
    return statement;
  }

  /**
   * The tables that may hold positions in (after, before), in position order (`desc`: newest
   * first): the kept table when it holds anything, then every period above the watermark.
   */
  tables(order: 'asc' | 'desc', after?: bigint, before?: bigint): EventTable[] {
    const out: EventTable[] = [];
    const w = this.watermark;
    if (this.keptRows && (before === undefined || before > 0n) && (after === undefined || after + 1n < w)) {
      out.push({ table: this.keptTable, kept: true, lo: 0n, end: w, watermarked: false });
    }
    for (const p of this.list) {
      // bigint: no Math.max.
      let lo = p.first;
      if (w > lo) lo = w;
      if (p.end !== undefined && p.end <= lo) continue;
      if (after !== undefined && p.end !== undefined && p.end - 1n <= after) continue;
      if (before !== undefined && lo >= before) continue;
      out.push({ table: p.table, kept: false, lo, end: p.end, watermarked: p.first < w });
    }
    return order === 'asc' ? out : out.reverse();
  }

  /** The table holding `position` (the kept table below the watermark). */
  tableOf(position: bigint): string | undefined {
    if (position < this.watermark) return this.keptRows ? this.keptTable : undefined;
    for (let i = this.list.length - 1; i >= 0; i--) {
      const p = this.list[i]!;
      if (position >= p.first) return p.table;
    }
    return undefined;
  }

  /** Groups positions by the table holding them. */
  byTable(positions: Iterable<bigint>): Map<string, bigint[]> {
    const groups = new Map<string, bigint[]>();
    for (const position of positions) {
      const table = this.tableOf(position);
      if (table === undefined) continue;
      pushTo(groups, table, position);
    }
    return groups;
  }

  /** The stored events at these positions, in position order (missing ones left out). */
  eventsAt(positions: readonly bigint[]): EventRow[] {
    const groups = this.byTable(positions);
    const rows: EventRow[] = [];
    for (const [table, list] of groups) {
      if (list.length === 1) {
        const row = this.on(table, SQL.SELECT_EVENT_AT).get(list[0]) as EventRow | undefined;
        if (row) rows.push(row);
      } else {
        rows.push(...(this.on(table, SQL.SELECT_EVENTS_BY_POSITIONS).all(jsonIntegers(list)) as EventRow[]));
      }
    }
    if (groups.size > 1)
      rows.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    return rows;
  }

  /**
   * The newest period's table for an event at `position` (a new position, from `event_keys`),
   * starting a new period first when the newest holds `periodEvents` already. Inside the
   * append's write transaction: the DDL commits or rolls back with the append.
   */
  tableForAppend(position: bigint): string {
    const newest = this.list[this.list.length - 1]!;
    if (position - newest.first < this.#periodEvents) return newest.table;
    const n = newest.n + 1;
    this.#db.exec(SQL.withPrefix(SQL.PERIOD_TABLE(n), this.#prefix));
    this.#db.prepare(SQL.withPrefix(SQL.REGISTER_PERIOD(n), this.#prefix)).run(position);
    newest.end = position;
    const period = { n, first: position, end: undefined, table: `${this.#prefix}events_${n}` };
    this.list.push(period);
    // Read the registry again at the next operation: this transaction may still roll back.
    this.#cookie = -1;
    return period.table;
  }

  /** Forgets the registry (after a DROP in this connection's transaction). */
  invalidate(): void {
    this.#cookie = -1;
  }
}

/** Appends `value` to the list under `key`, starting it when absent. */
export function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
