import { type EvcoError, isEvcoError } from '@evco/core';
import { afterEach, beforeEach, expect } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../src/index.js';
import { tempDir } from './support.js';

/**
 * A fresh temp directory per test and the stores a test opens, closed (then the directory
 * removed) after it. Kept apart from `support.ts`, which child-process fixtures import without vitest.
 */
export function useTempStores() {
  let current: ReturnType<typeof tempDir> | undefined;
  const stores: SqliteStore[] = [];
  beforeEach(() => {
    current = tempDir();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    current?.cleanup();
  });
  const tmp = {
    get dir(): string {
      return current!.dir;
    },
    file: (name?: string): string => current!.file(name),
  };
  const open = (options: Parameters<typeof createSqliteStore>[0]): SqliteStore => {
    const store = createSqliteStore(options);
    stores.push(store);
    return store;
  };
  return { tmp, open };
}

/** The typed evco error a promise rejects with (fails the test if it resolves or throws another). */
export async function failure(promise: Promise<unknown>): Promise<EvcoError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isEvcoError(error), String(error)).toBe(true);
  return error as EvcoError;
}
