import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDomainEvent, EvcoError, recordEvent, StoreUnavailableError } from '@evco/core';
import { createSqliteStore, readSqliteSchemaVersion } from '@evco/store-sqlite';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { pruneOptions } from '../src/commands/prune.js';
import { connect, importPeer, resolveRedisUrl, resolveTarget } from '../src/connect.js';
import { describeFailure, EXIT, exitCodeOf, UsageError, withSchemaHint } from '../src/errors.js';
import { parseDuration, parseTime } from '../src/time.js';
import { drawCausation } from '../src/tree.js';
import { capturedContext } from './support.js';

describe('connection flags', () => {
  it('a SQLite file without evco tables is refused, untouched, and only migrate adds them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evco-cli-unit-'));
    try {
      const file = join(dir, 'app.db');
      // Another application's database: tables of its own (here another prefix), none of evco's.
      const other = createSqliteStore({ filename: file, tablePrefix: 'app_' });
      await other.migrate();
      await other.close();
      const error = await connect({ sqlite: file }, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(
        `${file} has no evco tables; "evco migrate --sqlite ${file}" creates them`,
      );
      expect(readSqliteSchemaVersion({ filename: file })).toBe(0);
      const migrating = await connect({ sqlite: file }, {}, { mustExist: false });
      await migrating.admin.migrate();
      await migrating.admin.close();
      const { admin } = await connect({ sqlite: file }, {});
      expect((await admin.getCoordinatorStatus()).store.health.healthy).toBe(true);
      await admin.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a store package that is not installed is a usage error naming both ways to install it', async () => {
    const error = await importPeer('@evco/store-not-installed', 'a Postgres store').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      'a Postgres store needs @evco/store-not-installed, installed where @evco/cli is: npm install -g @evco/store-not-installed for a global evco, npm install @evco/store-not-installed in the project otherwise',
    );
  });

  it('pick the store from --sqlite, --database-url or DATABASE_URL, masking passwords', () => {
    expect(resolveTarget({ sqlite: 'a.db' }, {})).toMatchObject({ kind: 'sqlite', file: 'a.db' });
    expect(resolveTarget({}, { DATABASE_URL: 'sqlite:./b.db' })).toMatchObject({ kind: 'sqlite' });
    expect(resolveTarget({ databaseUrl: 'postgresql://u:pw@h/db', schema: 's' }, {})).toEqual({
      kind: 'postgres',
      url: 'postgresql://u:pw@h/db',
      schema: 's',
      where: 'postgresql://u:***@h/db',
    });
    for (const [flags, env, message] of [
      [{}, {}, /no store/],
      [{ sqlite: 'a', databaseUrl: 'postgresql://h/d' }, {}, /not both/],
      [{ databaseUrl: 'mysql://u:pw@h/d' }, {}, /postgresql:\/\/ or sqlite:/],
      [{ sqlite: 'a', schema: 's' }, {}, /Postgres only/],
    ] as const) {
      expect(() => resolveTarget(flags, env)).toThrow(message);
    }
    expect(() => resolveTarget({ databaseUrl: 'postgres://u:s3cret@/%' }, {})).toThrow(UsageError);
    // What pg (and so store-postgres) accepts is accepted: an empty host (PGHOST or the socket),
    // a socket directory as a parameter, a space or a stray % in the password (pg encodes them).
    for (const good of [
      'postgresql://app@/db',
      'postgresql:///db?host=/var/run/postgresql',
      'postgresql://app:p ss@db/app',
      'postgresql://app:p%zz@db/app',
    ]) {
      expect(resolveTarget({ databaseUrl: good }, {}), good).toMatchObject({ kind: 'postgres', url: good });
    }
    // What pg refuses stays a usage error (exit 2) before anything is opened, without the password.
    for (const bad of [
      'postgresql://app:s3cret@db:99999/app',
      'postgresql://app:s3c#ret@db/app',
      'postgresql://app:s3cret@db/%',
    ]) {
      const error = (() => {
        try {
          resolveTarget({ databaseUrl: bad }, {});
        } catch (e) {
          return e;
        }
      })();
      expect(error, bad).toBeInstanceOf(UsageError);
      expect(String(error)).toMatch(/--database-url must be a postgresql:\/\/ or sqlite: URL/);
      expect(String(error)).not.toContain('s3c');
    }
    try {
      resolveTarget({ databaseUrl: 'mysql://u:s3cret@h/d' }, {});
    } catch (error) {
      expect(String(error)).not.toContain('s3cret');
    }
    expect(resolveRedisUrl({}, { REDIS_URL: 'redis://h:6379' })).toBe('redis://h:6379');
    expect(() => resolveRedisUrl({ redisUrl: 'http://h' }, {})).toThrow(/redis:\/\//);
  });
});

describe('exit codes and error lines', () => {
  it('a wrong argument is 2 whoever finds it (the CLI, option parsing, an unknown handler), an outage 1', () => {
    expect(exitCodeOf(new UsageError('bad'))).toBe(EXIT.usage);
    expect(exitCodeOf(new EvcoError('UNKNOWN_HANDLER', 'no handler named "ghost"'))).toBe(EXIT.usage);
    expect(exitCodeOf(new StoreUnavailableError('down'))).toBe(EXIT.failure);
  });

  it("completes store-postgres's `evco migrate` advice with the schema the command used", () => {
    const line =
      '[evco:store-postgres] the store\'s tables are missing or out of date at postgresql://h/db (relation "shop.events" does not exist); run store.migrate() or `evco migrate`';
    expect(withSchemaHint(line, { schema: 'shop' })).toMatch(
      /or `evco migrate --schema shop` if schema "shop" is the one you meant \(a mistyped --schema would get an empty store\)$/,
    );
    expect(withSchemaHint(line, {})).toContain('`evco migrate --schema evco`');
    expect(withSchemaHint(line, { sqlite: 'x.db' })).toBe(line);
  });

  it('names the file of a SQLite error, which store-sqlite keeps out of the message', () => {
    const e = new StoreUnavailableError('cannot open the SQLite file: no such directory', {
      details: { file: '/srv/app/events.db' },
    });
    expect(describeFailure(e)).toBe(
      '[evco:core] cannot open the SQLite file: no such directory (file: /srv/app/events.db)',
    );
  });
});

describe('Redis channel prefix', () => {
  it("announces on the fleet's channel: --channel-prefix, else EVCO_REDIS_CHANNEL_PREFIX, else evco", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evco-cli-unit-'));
    try {
      const file = join(dir, 'events.db');
      const store = createSqliteStore({ filename: file });
      await store.migrate();
      await store.close();
      // Port 1: nothing listens; the publisher connects in the background and is closed unused.
      const redisUrl = 'redis://127.0.0.1:1';
      const channelOf = async (flags: object, env: NodeJS.ProcessEnv) => {
        const { admin } = await connect({ sqlite: file, redisUrl, ...flags }, env, { announce: true });
        const channel = (admin.publisher as unknown as { channel: string }).channel;
        await admin.close();
        return channel;
      };
      expect(await channelOf({}, {})).toBe('evco:events');
      expect(await channelOf({}, { EVCO_REDIS_CHANNEL_PREFIX: 'shop-prod' })).toBe('shop-prod:events');
      expect(
        await channelOf({ channelPrefix: 'shop-test' }, { EVCO_REDIS_CHANNEL_PREFIX: 'shop-prod' }),
      ).toBe('shop-test:events');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('time flags', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  it('take ISO date-times with a zone, dates (UTC), now and ages', () => {
    expect(parseTime('2026-01-02T03:04:05+02:00', '--from', now).toISOString()).toBe(
      '2026-01-02T01:04:05.000Z',
    );
    expect(parseTime('2026-01-02', '--from', now).toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(parseTime('now', '--to', now)).toBe(now);
    expect(parseTime('90m', '--from', now).toISOString()).toBe('2026-06-01T10:30:00.000Z');
    expect(parseTime('2d', '--from', now).toISOString()).toBe('2026-05-30T12:00:00.000Z');
    for (const bad of ['yesterday', '2026-01-02T03:04:05', '2026-13-45', '']) {
      expect(() => parseTime(bad, '--from', now)).toThrow(/--from must be/);
    }
  });
});

describe('prune flags', () => {
  it('durations take the units of ages (500ms, 30s, 10m, 2h, 1d) and refuse a bare number', () => {
    expect(parseDuration('500ms', '--archive-timeout')).toBe(500);
    expect(parseDuration('30s', '--archive-timeout')).toBe(30_000);
    expect(parseDuration(' 10m ', '--archive-timeout')).toBe(600_000);
    expect(parseDuration('1d', '--archive-timeout')).toBe(86_400_000);
    for (const bad of ['30', '5 m', '1.5s', '-1s', 'soon', '']) {
      expect(() => parseDuration(bad, '--archive-timeout'), bad).toThrow(
        /--archive-timeout must be a duration with a unit: 500ms, 30s, 10m, 2h or 1d/,
      );
    }
  });

  it("become pruneEvents options, refused with core's own ranges as usage errors naming the flag", () => {
    expect(
      pruneOptions({
        before: '2026-01-01',
        archiveTimeout: '10m',
        dutyCycle: 0.25,
        maxRate: 500,
        batchSize: 50,
      }),
    ).toEqual({
      before: new Date('2026-01-01T00:00:00Z'),
      archiveTimeoutMs: 600_000,
      dutyCycle: 0.25,
      maxEventsPerSecond: 500,
      batchSize: 50,
    });
    // The ends of core's ranges: 100 ms and one day for the archive, (0, 1] for the duty cycle.
    expect(pruneOptions({ before: 'now', archiveTimeout: '100ms' }).archiveTimeoutMs).toBe(100);
    expect(pruneOptions({ before: 'now', archiveTimeout: '24h' }).archiveTimeoutMs).toBe(86_400_000);
    expect(pruneOptions({ before: 'now', dutyCycle: 1 }).dutyCycle).toBe(1);
    for (const [args, message] of [
      [
        { archiveTimeout: '99ms' },
        /^--archive-timeout \(archiveTimeoutMs\): must be at least 100 \(milliseconds\)$/,
      ],
      [{ archiveTimeout: '2d' }, /^--archive-timeout \(archiveTimeoutMs\): must be at most 86400000/],
      [{ archiveTimeout: '5' }, /^--archive-timeout must be a duration with a unit/],
      [{ dutyCycle: 0 }, /^--duty-cycle \(dutyCycle\): must be above 0/],
      [{ dutyCycle: 1.5 }, /^--duty-cycle \(dutyCycle\): must be at most 1/],
      [{ dutyCycle: Number.NaN }, /^--duty-cycle \(dutyCycle\): /],
      [{ maxRate: 0 }, /^--max-rate \(maxEventsPerSecond\): /],
      [{ batchSize: 0 }, /^--batch-size \(batchSize\): /],
      [{ type: ['has space'] as string[] }, /^--type \(types\): /],
    ] as const) {
      const error = (() => {
        try {
          pruneOptions({ before: 'now', ...args });
        } catch (e) {
          return e;
        }
      })();
      expect(error, JSON.stringify(args)).toBeInstanceOf(UsageError);
      expect((error as Error).message, JSON.stringify(args)).toMatch(message);
      expect(exitCodeOf(error)).toBe(EXIT.usage);
    }
  });

  it('a bad --archive-timeout is exit 2 before the archive directory or the store is touched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evco-cli-unit-'));
    try {
      const { ctx } = capturedContext({});
      let stderr = '';
      ctx.io.stderr.on('data', (d) => {
        stderr += d;
      });
      const archiveDir = join(dir, 'archive');
      const file = join(dir, 'events.db');
      const code = await runCli(
        [
          'prune',
          '--before',
          '90d',
          '--archive-dir',
          archiveDir,
          '--archive-timeout',
          '50ms',
          '--sqlite',
          file,
        ],
        ctx.io,
      );
      expect(code).toBe(EXIT.usage);
      expect(stderr).toBe(
        'evco: --archive-timeout (archiveTimeoutMs): must be at least 100 (milliseconds)\n',
      );
      // Not "no SQLite file" (the store was not opened), and no archive directory was made.
      expect(existsSync(archiveDir)).toBe(false);
      expect(existsSync(file)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--help lists the pacing and archive-timeout flags', async () => {
    const { ctx, out } = capturedContext({});
    expect(await runCli(['prune', '--help'], ctx.io)).toBe(0);
    const help = out().replace(/\s+/g, ' ');
    for (const flag of ['--archive-timeout', '--batch-size', '--duty-cycle', '--max-rate']) {
      expect(help).toContain(flag);
    }
  });
});

describe('causation drawing', () => {
  const rec = (type: string, n: number) =>
    recordEvent(createDomainEvent({ eventType: type, aggregateId: 'a' }), String(n), new Date(0));
  it('draws the causes down to the event, then its effects as a tree', () => {
    const [root, cause, self, x, y, z] = [
      rec('Root', 1),
      rec('Cause', 2),
      rec('Self', 3),
      rec('X', 4),
      rec('Y', 5),
      rec('Z', 6),
    ];
    const lines = drawCausation(
      self!,
      [root!, cause!],
      [
        { event: x!, children: [{ event: z!, children: [] }] },
        { event: y!, children: [] },
      ],
    );
    expect(lines).toEqual([
      `Root ${root!.id} (a)`,
      `└─ Cause ${cause!.id} (a)`,
      `   └─ Self ${self!.id} (a)   ◀ this event`,
      `      ├─ X ${x!.id} (a)`,
      `      │  └─ Z ${z!.id} (a)`,
      `      └─ Y ${y!.id} (a)`,
    ]);
    expect(drawCausation(self!, [], [])).toEqual([`Self ${self!.id} (a)   ◀ this event`]);
  });
});
