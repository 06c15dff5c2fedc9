import { isEvcoError } from '@evco/core';
import { describe, expect, it } from 'vitest';
import { translateError } from '../src/errors.js';

const where = 'postgresql://app:***@db:5432/app';

describe('translateError', () => {
  it('maps a unique violation on the event id to DUPLICATE_EVENT', () => {
    const e = translateError(
      {
        code: '23505',
        constraint: 'events_event_id_key',
        detail: 'Key (event_id)=(0190f5d2-0000-7000-8000-000000000001) already exists.',
        message: 'duplicate key value violates unique constraint "events_event_id_key"',
      },
      where,
    );
    expect(isEvcoError(e, 'DUPLICATE_EVENT')).toBe(true);
    expect((e as Error & { eventId: string }).eventId).toBe('0190f5d2-0000-7000-8000-000000000001');
  });

  it('maps a unique violation on (aggregate_id, aggregate_version) to CONCURRENCY with the details', () => {
    const e = translateError(
      {
        code: '23505',
        constraint: 'events_aggregate_version_key',
        detail: 'Key (aggregate_id, aggregate_version)=(order, 1, 2) already exists.',
        message: 'duplicate key value',
      },
      where,
    ) as Error & { aggregateId: string; aggregateVersion: number };
    expect(isEvcoError(e, 'CONCURRENCY')).toBe(true);
    expect(e.aggregateId).toBe('order, 1');
    expect(e.aggregateVersion).toBe(2);
    expect(e.message).toBe('[evco:store-postgres] aggregate order, 1 already has version 2');
  });

  it('maps bad values (22P02 and friends) to EVENT_VALIDATION', () => {
    for (const code of ['22P02', '22007', '22003', '23502', '22021']) {
      const e = translateError({ code, message: 'invalid input syntax for type uuid: "x"' }, where);
      expect(isEvcoError(e, 'EVENT_VALIDATION')).toBe(true);
    }
  });

  it('maps refused, reset, terminated and timed-out connections to STORE_UNAVAILABLE with the masked URL', () => {
    const cases = [
      { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' },
      { code: 'ECONNRESET', message: 'read ECONNRESET' },
      { code: '57P01', message: 'terminating connection due to administrator command' },
      { code: '08006', message: 'connection failure' },
      { code: '57014', message: 'canceling statement due to statement timeout' },
      { message: 'Connection terminated unexpectedly' },
      { message: 'timeout exceeded when trying to connect' },
    ];
    for (const c of cases) {
      const e = translateError(Object.assign(new Error(c.message), c), where);
      expect(isEvcoError(e, 'STORE_UNAVAILABLE')).toBe(true);
      expect(e.message).toBe(`[evco:store-postgres] postgres at ${where} is unavailable: ${c.message}`);
    }
  });

  it('says the server refused the connection (bad password, unknown role or database, no password given), not that a statement failed', () => {
    const cases: Array<[object, RegExp]> = [
      [
        { code: '28P01', message: 'password authentication failed for user "app"' },
        /^postgres at \S+ refused the connection: password authentication failed for user "app" \(check the user and password in the connection string\)$/,
      ],
      [
        { code: '28000', message: 'role "nouser" does not exist' },
        /^postgres at \S+ refused the connection: role "nouser" does not exist \(check the user in the connection string, and pg_hba\.conf/,
      ],
      [
        { code: '3D000', message: 'database "nodb" does not exist' },
        /^postgres at \S+ refused the connection: database "nodb" does not exist \(check the database name/,
      ],
      [
        // pg's own error when the server asks for SCRAM and the URL has no password.
        { message: 'SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string' },
        /^postgres at \S+ asks for a password and none was given: add it to the connection string after the user name and a colon, or set PGPASSWORD/,
      ],
    ];
    for (const [driver, text] of cases) {
      const e = translateError(
        Object.assign(new Error((driver as { message: string }).message), driver),
        where,
      );
      expect(isEvcoError(e, 'STORE_FAILED')).toBe(true);
      expect(e.message.replace('[evco:store-postgres] ', '')).toMatch(text);
      expect(e.message).not.toContain('failed a statement');
    }
    // A Unix socket with no server behind it is an outage like a refused TCP port.
    const socket = translateError(
      Object.assign(new Error('connect ENOENT /tmp/.s.PGSQL.5499'), { code: 'ENOENT', syscall: 'connect' }),
      where,
    );
    expect(isEvcoError(socket, 'STORE_UNAVAILABLE')).toBe(true);
  });

  it('says a missing privilege is one, with what migrations and the store need', () => {
    const e = translateError({ code: '42501', message: 'permission denied for database app' }, where);
    expect(isEvcoError(e, 'STORE_FAILED')).toBe(true);
    expect(e.message).toMatch(
      /denied the store's role a privilege: permission denied for database app \(migrations need CREATE on the database the first time/,
    );
    expect(e.message).not.toContain('failed a statement');
  });

  it('scrubs a password a driver message might echo', () => {
    const e = translateError(
      {
        code: 'ECONNREFUSED',
        message: 'could not connect to postgresql://app:topsecret@db/app password=topsecret',
      },
      where,
    );
    expect(e.message).not.toContain('topsecret');
  });

  it('points at store.migrate() and evco migrate when the tables are missing', () => {
    const e = translateError({ code: '42P01', message: 'relation "evco.events" does not exist' }, where);
    expect(isEvcoError(e, 'STORE_SCHEMA')).toBe(true);
    expect(e.message).toMatch(/; run store\.migrate\(\) or `evco migrate`$/);
  });

  it('keeps evco errors as they are and wraps anything else with a code', () => {
    const original = translateError({ code: '23505', constraint: 'events_event_id_key' }, where);
    expect(translateError(original, where)).toBe(original);
    const other = translateError({ code: '40P01', message: 'deadlock detected' }, where);
    expect(isEvcoError(other, 'STORE_FAILED')).toBe(true);
  });

  it('names the option to set when a pooler refuses a startup parameter', () => {
    const e = translateError(
      { code: '08P01', severity: 'FATAL', message: 'unsupported startup parameter: statement_timeout' },
      where,
    );
    expect(isEvcoError(e, 'TRANSACTION_POOLER')).toBe(true);
    expect((e as Error).message).toContain('refused the startup parameter "statement_timeout"');
    expect((e as Error).message).toContain("pooler: 'auto' or 'transaction'");
  });

  it("names the parameter PgBouncer 1.20+ refused inside the startup parameter 'options'", () => {
    const e = translateError(
      {
        code: '08P01',
        severity: 'FATAL',
        message: 'unsupported startup parameter in options: plan_cache_mode',
      },
      where,
    );
    expect(isEvcoError(e, 'TRANSACTION_POOLER')).toBe(true);
    expect((e as Error).message).toContain('refused the startup parameter "plan_cache_mode" (in options)');
    expect((e as Error).message).not.toContain('"in"');
  });

  it("names the option to set when the store's named statements meet another session", () => {
    for (const [code, message] of [
      ['42P05', 'prepared statement "evco_0123456789abcdef01234567" already exists'],
      ['26000', 'prepared statement "evco_0123456789abcdef01234567" does not exist'],
    ] as const) {
      const e = translateError({ code, message }, where);
      expect(isEvcoError(e, 'TRANSACTION_POOLER'), code).toBe(true);
      expect((e as Error).message).toContain("Set pooler: 'transaction'");
    }
    // Somebody else's statement is not the pooler's doing.
    const other = translateError(
      { code: '26000', message: 'prepared statement "mine" does not exist' },
      where,
    );
    expect(isEvcoError(other, 'STORE_FAILED')).toBe(true);
  });
});
