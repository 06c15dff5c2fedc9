/**
 * The prune worker: a thread with a connection of its own to the store's file, which removes
 * batches without an archive (`pruneEvents` of a store that opened its file by name), so their
 * statements run off the application's thread. Started by `PruneThread`; see there.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreSchemaError, StoreUnavailableError } from '@evco/core/adapter';
import Database from 'better-sqlite3';
import { onConnection, type Prepared, prepare, untilNotBusy } from './connection.js';
import { fileErrorOptions } from './errors.js';
import { LATEST_VERSION, readSchemaVersion } from './migrations.js';
import {
  type OnConnection,
  type PrunedBatch,
  type PruneState,
  pruneChosenThenRemoved,
  reclaimSpace,
} from './prune.js';
import {
  type PruneWorkerConfig,
  toWorkerError,
  type WorkerReply,
  type WorkerRequest,
} from './prune-protocol.js';

const config = workerData as PruneWorkerConfig;
const port = parentPort!;
const state: PruneState = { periodPages: 0 };
let p: Prepared | undefined;
let closing = false;
/** Requests under way (a prune waits for the lease and yields while it gives space back). */
let busy = 0;

function closedError(): StoreUnavailableError {
  return new StoreUnavailableError(
    'cannot prune events: the SQLite store is closed',
    fileErrorOptions(config.label),
  );
}

/**
 * The file opened as the store opened it (synchronous, temp_store), without migrating: the
 * store did before it started this worker. Its schema version is checked once (one primary-key
 * read): the worker opens the file by its path, which a newer release may have migrated since
 * the store opened it, and its statements are this release's.
 */
function open(): Prepared {
  if (p) return p;
  const db = new Database(config.path, { fileMustExist: true, timeout: 0 });
  try {
    const version = untilNotBusy(() => readSchemaVersion(db, config.tablePrefix), config.busyTimeoutMs);
    if (version !== LATEST_VERSION) {
      throw new StoreSchemaError(
        `the SQLite file has schema version ${version} where this @evco/store-sqlite's prune worker expects ${LATEST_VERSION}: another release migrated it after the store opened it; replace this process with one running that release`,
        fileErrorOptions(config.label),
      );
    }
    if (config.synchronous !== undefined) db.pragma(`synchronous = ${config.synchronous}`);
    if (config.tempStore !== undefined) db.pragma(`temp_store = ${config.tempStore}`);
    p = prepare(db, config.tablePrefix, config.periodEvents, config.busyTimeoutMs);
    return p;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Between tries for the lease: waits, unless the store is closing. */
async function pause(ms: number): Promise<void> {
  if (closing) throw closedError();
  await new Promise((resolve) => setTimeout(resolve, ms));
  if (closing) throw closedError();
}

async function prune(request: Extract<WorkerRequest, { type: 'prune' }>): Promise<PrunedBatch> {
  if (closing) throw closedError();
  const on = open();
  const run: OnConnection = (step) => onConnection(on, () => step(on));
  // The batch under way finishes when the store closes; giving space back stops.
  const batch = await pruneChosenThenRemoved(run, state, request, pause);
  if (batch.removed > 0) {
    await reclaimSpace(
      (step) => {
        if (closing) throw closedError();
        return run(step);
      },
      state,
      batch.removed,
    );
    checkpoint(on);
  }
  return batch;
}

/**
 * Copies the WAL into the file here, after each batch: a batch's changed pages (hundreds per
 * 1 000 events) otherwise fill the WAL for the auto-checkpoint of whichever commit crosses its
 * threshold — mostly the application's appends, which commit most often — so the application's
 * thread would copy the prune's pages. `PASSIVE` takes no lock that writers wait for and copies
 * what it can (measured: appends next to the capped prune 0.76–0.78 of their rate against
 * 0.67–0.72 without it, alternated; bench README). A checkpoint it cannot run now is left to the
 * next batch or to the auto-checkpoint.
 */
function checkpoint(on: Prepared): void {
  try {
    on.db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Another connection is checkpointing: nothing is lost by skipping this one.
  }
}

async function handle(request: WorkerRequest): Promise<PrunedBatch | undefined> {
  switch (request.type) {
    case 'prune':
      return prune(request);
    case 'hold': {
      const on = open();
      onConnection(on, () => on.db.exec('BEGIN IMMEDIATE'));
      if (request.releaseAfterMs !== undefined) {
        setTimeout(() => on.db.inTransaction && on.db.exec('COMMIT'), request.releaseAfterMs);
      }
      return undefined;
    }
    case 'release':
      if (p?.db.inTransaction) p.db.exec('COMMIT');
      return undefined;
    default:
      return undefined;
  }
}

/** Once closing and idle: the connection closed, and the thread ends with nothing left to run. */
function endIfClosed(): void {
  if (!closing || busy > 0) return;
  p?.db.close();
  p = undefined;
  port.close();
}

port.on('message', (request: WorkerRequest) => {
  if (request.type === 'close') {
    closing = true;
    endIfClosed();
    return;
  }
  // As a crash would: the thread ends with its requests unanswered and its transaction open.
  if (request.type === 'crash') process.exit(70);
  busy++;
  handle(request).then(
    (value) => reply({ id: request.id, ok: true, value }),
    (error: unknown) =>
      reply({ id: request.id, ok: false, error: toWorkerError(error, config.label, 'prune events') }),
  );
});

function reply(message: WorkerReply): void {
  port.postMessage(message);
  busy--;
  endIfClosed();
}
