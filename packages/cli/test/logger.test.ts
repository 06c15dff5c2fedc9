import { InvalidOptionsError, isEvcoError, type Logger, silentLogger } from '@evco/core';
import { createPostgresStore } from '@evco/store-postgres';
import { describe, expect, it } from 'vitest';
import { withLogger } from '../src/connect.js';

/**
 * A store factory as a store-postgres release before the `logger` option is: its strict options
 * refuse the key (before any I/O), and whatever else is invalid along with it.
 */
function olderRelease(invalid: Array<{ path: string; message: string }> = []) {
  const calls: Array<Record<string, unknown>> = [];
  const create = (options: Record<string, unknown>) => {
    calls.push(options);
    const issues = [
      ...('logger' in options ? [{ path: 'logger', message: 'unknown field' }] : []),
      ...invalid,
    ];
    if (issues.length > 0) throw new InvalidOptionsError('postgres store options', issues);
    return { options };
  };
  return { create, calls };
}

describe("the CLI's logger for the stores it builds", () => {
  it('a store-postgres that takes a logger gets the CLI one', () => {
    const seen: Array<Logger | undefined> = [];
    const store = withLogger(
      (options: Parameters<typeof createPostgresStore>[0]) => {
        seen.push(options.logger);
        return createPostgresStore(options);
      },
      { connectionString: 'postgresql://u@127.0.0.1:1/db', poolSize: 2 },
      silentLogger,
    );
    expect(seen).toEqual([silentLogger]);
    return store.close();
  });

  it('an older store-postgres, refusing the logger option, is built without it', () => {
    const older = olderRelease();
    const built = withLogger(older.create, { connectionString: 'postgresql://u@h/db' }, silentLogger);
    expect(built).toEqual({ options: { connectionString: 'postgresql://u@h/db' } });
    expect(older.calls).toEqual([
      { connectionString: 'postgresql://u@h/db', logger: silentLogger },
      { connectionString: 'postgresql://u@h/db' },
    ]);
  });

  it('any other invalid option is thrown as the store says it, not retried into another error', () => {
    const newer = (options: Record<string, unknown>) => {
      throw new InvalidOptionsError('postgres store options', [
        { path: 'schema', message: `bad ${String(options.schema)}` },
      ]);
    };
    expect(() => withLogger(newer, { schema: 'x y' }, silentLogger)).toThrow(/schema: bad x y/);
    // An older release refusing the logger and something else: the something else is what is left.
    const older = olderRelease([{ path: 'schema', message: 'bad' }]);
    let error: unknown;
    try {
      withLogger(older.create, { schema: 'x y' }, silentLogger);
    } catch (e) {
      error = e;
    }
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as InvalidOptionsError).issues).toEqual([{ path: 'schema', message: 'bad' }]);
    expect(older.calls).toHaveLength(2);
  });
});
