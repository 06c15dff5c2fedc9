import {
  EvcoError,
  type EvcoErrorCode,
  isEvcoError,
  StoreSchemaError,
  StoreUnavailableError,
} from '@evco/core/adapter';
import { fileErrorOptions, translateError } from './errors.js';
import type { PruneBatchRequest, PrunedBatch } from './prune.js';

/** What the prune worker opens the store's file with: the store's own resolved options. */
export interface PruneWorkerConfig {
  path: string;
  /** How the file is named in errors (`filename` as given). */
  label: string;
  tablePrefix: string;
  periodEvents: number;
  busyTimeoutMs: number;
  synchronous: 'NORMAL' | 'FULL' | undefined;
  tempStore: 'MEMORY' | 'FILE' | undefined;
}

/**
 * Main thread → worker. `hold`/`release`/`crash` are test hooks: hold the file's write lock in
 * a transaction until released (or for `releaseAfterMs`, timed in the worker); end the worker
 * thread as a crash would.
 */
export type WorkerRequest =
  | ({ type: 'prune'; id: number } & PruneBatchRequest)
  | { type: 'hold'; id: number; releaseAfterMs: number | undefined }
  | { type: 'release'; id: number }
  | { type: 'crash'; id: number }
  | { type: 'close' };

/** Worker → main thread, one per request with an id. */
export type WorkerReply =
  | { id: number; ok: true; value: PrunedBatch | undefined }
  | { id: number; ok: false; error: WorkerError };

/** An error as it crosses threads: an `EvcoError`'s code and message, or a bug's message. */
export interface WorkerError {
  code: EvcoErrorCode | undefined;
  message: string;
  cause: { name: string; message: string; code: string | undefined };
}

/**
 * In the worker: the error translated as the store translates its own (`translateError`),
 * reduced to what crosses a thread (a structured clone keeps no class and no `code`).
 */
export function toWorkerError(error: unknown, label: string, action: string): WorkerError {
  const translated = translateError(error, label, action);
  const raw = error instanceof Error ? error : new Error(String(error));
  const code = (raw as { code?: unknown }).code;
  return {
    code: isEvcoError(translated) ? translated.code : undefined,
    message:
      translated instanceof Error ? translated.message.replace(/^\[evco:[^\]]+\] /, '') : String(translated),
    cause: { name: raw.name, message: raw.message, code: typeof code === 'string' ? code : undefined },
  };
}

/**
 * On the main thread: the typed error the inline path would have thrown (same class, code and
 * message; the driver's error as a plain cause). Anything untyped (a bug in the worker) comes
 * back as `STORE_UNAVAILABLE` rather than raw.
 */
export function fromWorkerError(error: WorkerError, label: string): EvcoError {
  const options = fileErrorOptions(label, error.cause);
  switch (error.code) {
    case 'STORE_UNAVAILABLE':
      return new StoreUnavailableError(error.message, options);
    case 'STORE_SCHEMA':
      return new StoreSchemaError(error.message, options);
    case undefined:
      return new StoreUnavailableError(
        `cannot prune events: the prune worker failed: ${error.message}`,
        options,
      );
    default:
      return new EvcoError(error.code, error.message, options);
  }
}
