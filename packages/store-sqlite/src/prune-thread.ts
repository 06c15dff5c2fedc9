import { Worker } from 'node:worker_threads';
import { StoreUnavailableError } from '@evco/core/adapter';
import { fileErrorOptions } from './errors.js';
import type { PruneBatchRequest, PrunedBatch } from './prune.js';
import {
  fromWorkerError,
  type PruneWorkerConfig,
  type WorkerReply,
  type WorkerRequest,
} from './prune-protocol.js';

/** How long `close()` lets the worker finish the batch under way before ending it. */
const CLOSE_GRACE_MS = 30_000;

type Call = { resolve: (value: PrunedBatch | undefined) => void; reject: (error: unknown) => void };

/** Test hooks on a store's prune worker (not part of the package's API). */
export const pruneWorkerHooks: unique symbol = Symbol('evco.storeSqlite.pruneWorker');

export interface PruneWorkerHooks {
  /** Whether a worker thread is running now. */
  running(): boolean;
  /**
   * The worker takes the file's write lock in a transaction and keeps it until `release()`, or
   * for `releaseAfterMs` (timed in the worker: the main thread may be blocked in a lock wait).
   */
  hold(releaseAfterMs?: number): Promise<void>;
  release(): Promise<void>;
  /** The worker thread ends at once, as a crash would. */
  crash(): void;
}

/**
 * The main thread's side of a store's prune worker (`prune-worker.ts`): started on the first
 * batch, one per store, posted each batch and answered with what it removed. It keeps the
 * process alive only while a call waits for it (`ref` while busy, `unref` when idle), so an
 * idle store never holds a process open. A worker that stops (a crash, a failed start) fails the
 * calls waiting for it with `STORE_UNAVAILABLE`; the next call starts another.
 */
export class PruneThread {
  readonly #config: PruneWorkerConfig;
  #worker: Worker | undefined;
  readonly #calls = new Map<number, Call>();
  #next = 0;
  #closed = false;
  /** Why the worker stopped, for the calls it leaves unanswered. */
  #stopError: unknown;

  constructor(config: PruneWorkerConfig) {
    this.#config = config;
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  async prune(batch: PruneBatchRequest): Promise<PrunedBatch> {
    return (await this.#call({ type: 'prune', ...batch }))!;
  }

  /** Lets the batch under way finish (a lease wait ends with the closed error), then ends the thread. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (!worker) return;
    worker.ref();
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    const stuck = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(stuck);
  }

  hooks(): PruneWorkerHooks {
    return {
      running: () => this.running,
      hold: async (releaseAfterMs) => void (await this.#call({ type: 'hold', releaseAfterMs })),
      release: async () => void (await this.#call({ type: 'release' })),
      crash: () => this.#worker?.postMessage({ type: 'crash', id: 0 } satisfies WorkerRequest),
    };
  }

  #call(
    request: DistributiveOmit<Exclude<WorkerRequest, { type: 'close' }>, 'id'>,
  ): Promise<PrunedBatch | undefined> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const worker = this.#worker ?? this.#start();
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...request, id } as WorkerRequest);
    });
  }

  #start(): Worker {
    const { file, execArgv } = workerEntry();
    const worker = new Worker(file, { workerData: this.#config, execArgv });
    worker.unref();
    this.#stopError = undefined;
    worker.on('message', (reply: WorkerReply) => {
      const call = this.#calls.get(reply.id);
      if (!call) return;
      this.#calls.delete(reply.id);
      if (this.#calls.size === 0 && !this.#closed) worker.unref();
      if (reply.ok) call.resolve(reply.value);
      else call.reject(fromWorkerError(reply.error, this.#config.label));
    });
    worker.on('error', (error) => {
      this.#stopError = error;
    });
    worker.on('exit', (code) => this.#stopped(worker, code));
    this.#worker = worker;
    return worker;
  }

  #stopped(worker: Worker, code: number): void {
    if (this.#worker === worker) this.#worker = undefined;
    if (this.#calls.size === 0) return;
    const cause = this.#stopError;
    // The error's own message (in `cause`) may name paths on this machine; the message says its kind.
    const kind = cause instanceof Error ? ((cause as { code?: unknown }).code ?? cause.name) : undefined;
    const why = kind === undefined ? `stopped (exit code ${code})` : `failed (${String(kind)})`;
    const error = this.#closed
      ? this.#closedError()
      : new StoreUnavailableError(
          `cannot prune events: the prune worker thread ${why}; the next call starts another (pruneThread: 'inline' prunes on the calling thread instead, e.g. when a bundler left out the package's dist/prune-worker.js)`,
          fileErrorOptions(this.#config.label, cause),
        );
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) call.reject(error);
  }

  #closedError(): StoreUnavailableError {
    return new StoreUnavailableError(
      'cannot prune events: the SQLite store is closed',
      fileErrorOptions(this.#config.label),
    );
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * Where the worker's code is, relative to this module: built, `prune-worker.js` beside
 * `index.js` (ESM) or `prune-worker.cjs` beside `index.cjs` (CommonJS; tsup's shim gives it
 * `import.meta.url`). From source (vitest, tsx; this module a `.ts` file) Node cannot start a
 * `.ts` worker, so a bootstrap registers tsx in the thread and imports `prune-worker.ts`, with
 * the workspace's source condition so its imports resolve to source as well.
 */
function workerEntry(): { file: URL; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return { file: new URL('./prune-worker-source.mjs', here), execArgv: ['--conditions=@evco/source'] };
  }
  return {
    file: new URL(here.endsWith('.cjs') ? './prune-worker.cjs' : './prune-worker.js', here),
    execArgv: [],
  };
}
