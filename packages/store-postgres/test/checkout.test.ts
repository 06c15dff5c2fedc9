import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { queryHeld } from '../src/checkout.js';

/** A pool whose `connect` answers as `answer` says, with a client that runs every statement. */
function fakePool(answer: (client: pg.PoolClient, done: (release?: unknown) => void) => unknown[]) {
  const released: unknown[] = [];
  const statements: string[] = [];
  const client = {
    on() {},
    off() {},
    query(config: pg.QueryConfig, callback: (error: Error | null, result: unknown) => void) {
      statements.push(config.text);
      callback(null, { rows: [{ text: config.text }], rowCount: 1 });
    },
  } as unknown as pg.PoolClient;
  const pool = {
    connect(callback: (...args: unknown[]) => void) {
      callback(...answer(client, (release) => released.push(release)));
    },
  } as unknown as pg.Pool;
  return { pool, released, statements };
}

describe('queryHeld', () => {
  it('runs on a connection a pool hands over with a null error (pools other than pg-pool 3 pass null)', async () => {
    const { pool, released, statements } = fakePool((client, done) => [null, client, done]);
    const results = await queryHeld(pool, { text: 'SELECT 1' }, () => ({ text: 'SELECT 2' }));
    expect(results).toHaveLength(2);
    expect(statements).toEqual(['SELECT 1', 'SELECT 2']);
    expect(released).toEqual([undefined]);
  });

  it('rejects with the pool’s error, or a clear one when the pool gives neither error nor connection', async () => {
    const failing = fakePool(() => [new Error('pool is ending')]);
    await expect(queryHeld(failing.pool, { text: 'SELECT 1' }, () => undefined)).rejects.toThrow(
      'pool is ending',
    );
    const empty = fakePool(() => [null, undefined, () => {}]);
    await expect(queryHeld(empty.pool, { text: 'SELECT 1' }, () => undefined)).rejects.toThrow(
      /no connection/,
    );
  });
});
