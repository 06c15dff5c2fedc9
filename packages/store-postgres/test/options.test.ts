import { isEvcoError } from '@evco/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStoreOptions } from '../src/index.js';

const url = 'postgresql://app:pw@127.0.0.1:1/db';

function error(options: unknown): { code: string; message: string; issues: Array<{ path: string }> } {
  try {
    createPostgresStore(options as PostgresStoreOptions);
  } catch (e) {
    expect(isEvcoError(e, 'INVALID_OPTIONS')).toBe(true);
    return e as never;
  }
  throw new Error('expected INVALID_OPTIONS');
}

describe('createPostgresStore options', () => {
  it('rejects schema names that are not plain lower-case identifiers, before any connection', () => {
    for (const schema of [
      'Evco',
      'evco;drop',
      '"evco"',
      "evco'--",
      'evco schema',
      '1evco',
      '',
      'e'.repeat(42),
      'évco',
      'evco\u0000',
      'public.evco',
    ]) {
      const e = error({ connectionString: url, schema });
      expect(e.issues.map((i) => i.path)).toEqual(['schema']);
      expect(e.message).toMatch(/^\[evco:store-postgres\] invalid postgres store options: schema: /);
    }
  });

  it('a connection string given instead of options is refused with the call to write, its password masked', () => {
    const e = error('postgresql://app:s3cret@db.internal:5432/shop?sslmode=require');
    expect(e.message).toBe(
      '[evco:store-postgres] invalid postgres store options: (root): expected an options object, received a ' +
        'string: pass { connectionString: "postgresql://app:***@db.internal:5432/shop?sslmode=require" }',
    );
    // A string that is no postgres URL (libpq's key=value form, a password by mistake) is not echoed.
    for (const other of ['host=db.internal user=app password=s3cret dbname=shop', 's3cret']) {
      expect(error(other).message).toMatch(
        /\(root\): expected an options object, received a string: pass \{ connectionString: "postgresql:\/\/user:password@host:5432\/db" \}$/,
      );
    }
  });

  it('lists every problem at once', () => {
    const e = error({ schema: 'Bad', poolSize: 0, statementTimeoutMs: -1, surprise: true });
    expect(e.issues.map((i) => i.path).sort()).toEqual(
      ['connectionString', 'poolSize', 'schema', 'statementTimeoutMs', 'surprise'].sort(),
    );
  });

  it('needs exactly one of connectionString and pool', () => {
    expect(error({}).issues.map((i) => i.path)).toEqual(['connectionString']);
    // `connectionString: process.env.DATABASE_URL` with the variable unset: say that it was undefined.
    expect(error({ connectionString: undefined }).message).toContain(
      'connectionString: give connectionString or pool; neither is set (an undefined connectionString, say from an unset DATABASE_URL, counts as not set)',
    );
    const pool = new pg.Pool({ connectionString: url });
    expect(error({ connectionString: url, pool }).issues.map((i) => i.path)).toEqual(['connectionString']);
    expect(error({ connectionString: 'mysql://x' }).issues.map((i) => i.path)).toEqual(['connectionString']);
    expect(error({ pool: { query: 1 } }).issues.map((i) => i.path)).toEqual(['pool']);
  });

  it('refuses notify behind a declared transaction pooler without a connection to LISTEN on', () => {
    const e = error({ connectionString: url, pooler: 'transaction', notify: true });
    expect(e.issues.map((i) => i.path)).toEqual(['listenConnectionString']);
    expect(e.message).toContain('set listenConnectionString to a direct connection');
    expect(error({ connectionString: url, pooler: 'session' }).issues.map((i) => i.path)).toEqual(['pooler']);
    expect(
      error({ connectionString: url, listenConnectionString: 'redis://x' }).issues.map((i) => i.path),
    ).toEqual(['listenConnectionString']);
  });

  it('behind a declared transaction pooler: no session settings, unnamed statements unless asked for', async () => {
    const pooled = createPostgresStore({ connectionString: url, pooler: 'transaction' });
    expect(pooled.pool.options).toMatchObject({ connectionString: url });
    expect(pooled.pool.options.options).toBeUndefined();
    expect(pooled.pool.options.statement_timeout).toBeUndefined();
    await pooled.close();
    const direct = createPostgresStore({ connectionString: url, pooler: 'none' });
    expect(direct.pool.options).toMatchObject({
      options: '-c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off',
      statement_timeout: 30_000,
    });
    await direct.close();
  });

  it('refuses a URL that does not parse (a bad port) before any connection, without repeating it', () => {
    for (const bad of [
      'postgresql://app:s3cret@db:badport/app',
      'postgresql://app:s3cret@db:99999/app',
      'postgres://app:s3c#ret@db/app', // a # in the password, not percent-encoded
      'postgresql://app:s3cret@db/%', // a database name pg cannot decode (URIError: URI malformed)
      'postgresql://app:s3cret@/%', // likewise, with the empty host
    ]) {
      for (const options of [
        { connectionString: bad },
        { connectionString: url, listenConnectionString: bad },
      ]) {
        const e = error(options);
        expect(isEvcoError(e, 'INVALID_OPTIONS'), bad).toBe(true);
        expect(e.message).toMatch(/[cC]onnectionString: is not a valid URL \(check the port/);
        expect(e.message).not.toMatch(/s3c#?ret/);
      }
    }
    // What pg itself accepts stays accepted: an empty host (PGHOST or the socket), a socket
    // directory as a parameter, a space or a stray % in the password (pg encodes them).
    for (const good of [
      'postgresql://app@/db',
      'postgresql:///db?host=/var/run/postgresql',
      'postgresql://app:p ss@db/app',
      'postgresql://app:p%zz@db/app',
    ]) {
      expect(() => createPostgresStore({ connectionString: good }), good).not.toThrow();
    }
  });

  it('never shows the password of a rejected connection string', () => {
    const e = error({ connectionString: url, schema: 'Bad' });
    expect(e.message).not.toContain(':pw@');
  });

  it('accepts valid options without connecting, with the documented defaults', async () => {
    // Port 1 refuses connections: constructing must not try.
    const store = createPostgresStore({ connectionString: url });
    expect(store.schema).toBe('evco');
    expect(store.name).toBe('postgres');
    expect(store.capabilities).toEqual({ durable: true, crossProcess: true });
    expect(store.pool.options.max).toBe(10);
    expect(store.pool.totalCount).toBe(0);
    await store.close();
    await store.close();
    const health = await store.healthCheck();
    expect(health.healthy).toBe(false);
    expect(health.details.url).toBe('postgresql://app:***@127.0.0.1:1/db');
  });

  it('a closed store refuses work with STORE_UNAVAILABLE and no I/O', async () => {
    const store = createPostgresStore({ connectionString: url, schema: 'other', poolSize: 3 });
    expect(store.pool.options.max).toBe(3);
    await store.close();
    const e = await store.read({ limit: 1 }).catch((x: unknown) => x);
    expect(isEvcoError(e, 'STORE_UNAVAILABLE')).toBe(true);
    expect((e as Error).message).not.toContain(':pw@');
  });
});
