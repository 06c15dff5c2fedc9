import type Database from 'better-sqlite3';
import * as SQL from './sql.js';

/**
 * Every statement the store prepares on a connection, by the name the store runs it under
 * (`p.s.<name>`): declared once here, the SQL itself in `sql.ts`. Statements on an events
 * table (a period or the kept table) are the exception: prepared per table on first use by
 * `Periods` (periods.ts), `read`'s one per combination of filters from `SQL.READ_FRAGMENTS`.
 */
export const STATEMENTS = {
  insertEventKey: SQL.INSERT_EVENT_KEY,
  insertEventVersion: SQL.INSERT_EVENT_VERSION,
  positionOfId: SQL.SELECT_POSITION_OF_ID,
  deleteEventKeys: SQL.DELETE_EVENT_KEYS,
  deleteEventKeysRange: SQL.DELETE_EVENT_KEYS_RANGE,
  deleteDeliveriesRange: SQL.DELETE_DELIVERIES_RANGE,
  openInRange: SQL.SELECT_OPEN_IN_RANGE,
  anyRunningReplay: SQL.SELECT_ANY_RUNNING_REPLAY,
  deleteEventVersions: SQL.DELETE_EVENT_VERSIONS,
  moveWatermark: SQL.MOVE_WATERMARK,
  deliveriesOfEvent: SQL.SELECT_DELIVERIES_OF_EVENT,
  countReplayDeliveries: SQL.COUNT_REPLAY_DELIVERIES,
  lastPosition: SQL.SELECT_LAST_POSITION,
  upsertSubscription: SQL.UPSERT_SUBSCRIPTION,
  subscriptions: SQL.SELECT_SUBSCRIPTIONS,
  liveSubscriptionsOfType: SQL.SELECT_LIVE_SUBSCRIPTIONS_OF_TYPE,
  liveHandlers: SQL.SELECT_LIVE_HANDLERS,
  deleteSubscriptions: SQL.DELETE_SUBSCRIPTIONS_OF_HANDLER,
  insertDelivery: SQL.INSERT_DELIVERY,
  promoteChainHead: SQL.PROMOTE_CHAIN_HEAD,
  demoteChain: SQL.DEMOTE_CHAIN,
  expiredForHandler: SQL.SELECT_EXPIRED_FOR_HANDLER,
  dueForHandler: SQL.SELECT_DUE_FOR_HANDLER,
  lease: SQL.LEASE_DELIVERIES,
  complete: SQL.COMPLETE_DELIVERY,
  retry: SQL.RETRY_DELIVERY,
  kill: SQL.KILL_DELIVERY,
  release: SQL.RELEASE_DELIVERY,
  deleteOpenDeliveries: SQL.DELETE_OPEN_DELIVERIES_OF_HANDLER,
  redriveAll: SQL.REDRIVE_ALL,
  redriveByHandler: SQL.REDRIVE_BY_HANDLER,
  redriveByIds: SQL.REDRIVE_BY_IDS,
  redriveByIdsAndHandler: SQL.REDRIVE_BY_IDS_AND_HANDLER,
  insertRedriven: SQL.INSERT_REDRIVEN,
  unprocessed: SQL.SELECT_UNPROCESSED_POSITIONS,
  unprocessedOfHandler: SQL.SELECT_UNPROCESSED_POSITIONS_OF_HANDLER,
  openDeliveriesOfEvents: SQL.SELECT_OPEN_DELIVERIES_OF_EVENTS,
  dead: SQL.SELECT_DEAD,
  deadOfHandler: SQL.SELECT_DEAD_OF_HANDLER,
  deadOfEvent: SQL.SELECT_DEAD_OF_EVENT,
  deadOfEventAndHandler: SQL.SELECT_DEAD_OF_EVENT_AND_HANDLER,
  openCounts: SQL.SELECT_OPEN_COUNTS,
  countUnprocessed: SQL.COUNT_UNPROCESSED_EVENTS,
  insertReplay: SQL.INSERT_REPLAY,
  replay: SQL.SELECT_REPLAY,
  updateReplay: SQL.UPDATE_REPLAY,
  staleReplays: SQL.SELECT_STALE_REPLAYS,
  deleteDoneForReplay: SQL.DELETE_DONE_FOR_REPLAY,
  requeueReplayPage: SQL.REQUEUE_REPLAY_PAGE,
  deleteDeliveriesOfEvents: SQL.DELETE_DELIVERIES_OF_EVENTS,
  recordPruned: SQL.RECORD_PRUNED,
  pruned: SQL.SELECT_PRUNED,
  acquireLease: SQL.ACQUIRE_LEASE,
  releaseLease: SQL.RELEASE_LEASE,
  leaseHeld: SQL.LEASE_HELD,
} as const satisfies Record<string, string>;

export type StatementName = keyof typeof STATEMENTS;
export type Statement = Database.Statement<unknown[], unknown>;
export type Statements = Readonly<Record<StatementName, Statement>>;

/**
 * Prepares every statement of `STATEMENTS` on `db` with the table prefix in place. Integers read
 * back as `bigint` (positions and row ids may pass 2^53); callers convert counts with `Number`.
 */
export function prepareStatements(db: Database.Database, prefix: string): Statements {
  const prepared: Partial<Record<StatementName, Statement>> = {};
  for (const name of Object.keys(STATEMENTS) as StatementName[]) {
    prepared[name] = db.prepare(SQL.withPrefix(STATEMENTS[name], prefix)).safeIntegers(true);
  }
  return prepared as Statements;
}
