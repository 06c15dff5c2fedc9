import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDomainEvent, EvcoError, NotFoundError, recordEvent, StoreUnavailableError } from '@evco/core';
import { createSqliteStore, readSqliteSchemaVersion } from '@evco/store-sqlite';
import { makeTestTls, type TestTls } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { pruneOptions } from '../src/commands/prune.js';
import {
  type ConnectionFlags,
  connect,
  importPeer,
  redisConnection,
  resolveRedis,
  resolveRedisUrl,
  resolveTarget,
} from '../src/connect.js';
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

  it("says the CLI's own errors once: 'evco: no event …', not 'evco: [evco:cli] no event …'", () => {
    // Before: the line began `evco: [evco:cli] `, evco named twice. Other packages keep their tag.
    expect(describeFailure(new NotFoundError('event', 'e-1', { source: 'cli' }))).toMatch(
      /^no event with id "e-1"/,
    );
    expect(describeFailure(new NotFoundError('event', 'e-1', { source: 'store-postgres' }))).toMatch(
      /^\[evco:store-postgres\] no event with id "e-1"/,
    );
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

/** What resolveRedis throws for these flags and environment (undefined when it accepts them). */
function refusal(flags: ConnectionFlags, env: NodeJS.ProcessEnv): unknown {
  try {
    resolveRedis(flags, env);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('Redis behind Sentinel or on a Cluster', () => {
  it('--redis-sentinels with --redis-sentinel-name, credentials from the environment only', () => {
    expect(
      resolveRedis(
        { redisSentinels: '10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381', redisSentinelName: 'evco-master' },
        { EVCO_REDIS_SENTINEL_PASSWORD: 'sentinel-s3cret', EVCO_REDIS_PASSWORD: 'data-s3cret' },
      ),
    ).toEqual({
      kind: 'sentinel',
      name: 'evco-master',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      sentinelPassword: 'sentinel-s3cret',
      password: 'data-s3cret',
      where: 'redis-sentinel://10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/evco-master',
    });
    expect(
      resolveRedis(
        {},
        { EVCO_REDIS_SENTINELS: 'h:26379', EVCO_REDIS_SENTINEL_NAME: 'm', EVCO_REDIS_USERNAME: 'app' },
      ),
    ).toMatchObject({
      kind: 'sentinel',
      name: 'm',
      sentinels: [{ host: 'h', port: 26379 }],
      username: 'app',
    });
  });

  it('--redis-cluster seeds, sharded Pub/Sub unless --no-redis-sharded-pubsub or EVCO_REDIS_SHARDED_PUBSUB=false', () => {
    expect(resolveRedis({ redisCluster: 'a:7000,b:7001' }, {})).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      shardedPubSub: true,
      where: 'redis-cluster://a:7000,b:7001',
    });
    expect(resolveRedis({ redisCluster: 'a:7000', redisShardedPubsub: false }, {})).toMatchObject({
      shardedPubSub: false,
    });
    expect(
      resolveRedis({}, { EVCO_REDIS_CLUSTER: 'a:7000', EVCO_REDIS_SHARDED_PUBSUB: 'false' }),
    ).toMatchObject({ kind: 'cluster', shardedPubSub: false });
    expect(resolveRedis({}, { REDIS_URL: 'redis://h:6379' })).toEqual({
      kind: 'url',
      url: 'redis://h:6379',
      where: 'redis://h:6379',
    });
    expect(resolveRedis({}, {})).toBeUndefined();
  });

  it('a flag wins over the environment; two of url, sentinels, cluster on one level are refused', () => {
    expect(
      resolveRedis({ redisCluster: 'a:7000' }, { REDIS_URL: 'redis://h:6379', EVCO_REDIS_SENTINELS: 'x:1' }),
    ).toMatchObject({ kind: 'cluster' });
    expect(resolveRedis({ redisUrl: 'redis://h:6379' }, { EVCO_REDIS_CLUSTER: 'a:7000' })).toMatchObject({
      kind: 'url',
    });
    expect(() => resolveRedis({ redisUrl: 'redis://h', redisCluster: 'a:7000' }, {})).toThrow(
      /give one of --redis-url, --redis-sentinels or --redis-cluster/,
    );
    expect(() => resolveRedis({}, { REDIS_URL: 'redis://h', EVCO_REDIS_CLUSTER: 'a:7000' })).toThrow(
      /REDIS_URL and EVCO_REDIS_CLUSTER are both set/,
    );
  });

  it('refuses bad values before any I/O, naming the flag, never echoing a password', () => {
    for (const [flags, env, message] of [
      [{ redisSentinels: 'h:26379' }, {}, /--redis-sentinels needs --redis-sentinel-name/],
      [{ redisSentinelName: 'm' }, {}, /--redis-sentinel-name applies only with --redis-sentinels/],
      [{ redisSentinels: 'h', redisSentinelName: 'm' }, {}, /--redis-sentinels: "h" is not host:port/],
      [{ redisCluster: 'h:0' }, {}, /--redis-cluster: "h:0" is not host:port/],
      [{ redisCluster: 'h:65536' }, {}, /--redis-cluster: "h:65536" is not host:port/],
      [{ redisCluster: ' , ' }, {}, /--redis-cluster needs at least one host:port/],
      [{}, { EVCO_REDIS_CLUSTER: 'nope' }, /EVCO_REDIS_CLUSTER: "nope" is not host:port/],
      [{ redisShardedPubsub: false }, {}, /--no-redis-sharded-pubsub applies only with --redis-cluster/],
      [
        {},
        { EVCO_REDIS_CLUSTER: 'a:1', EVCO_REDIS_SHARDED_PUBSUB: 'maybe' },
        /EVCO_REDIS_SHARDED_PUBSUB must be true or false/,
      ],
      [{ redisSentinels: 'redis://:s3cret@h:26379', redisSentinelName: 'm' }, {}, /is not host:port/],
      [{ redisCluster: 'u:s3cret@h:7000' }, {}, /is not host:port/],
    ] as const) {
      const error = refusal(flags, env);
      expect(error, JSON.stringify(flags)).toBeInstanceOf(UsageError);
      expect(String(error)).toMatch(message);
      expect(String(error)).not.toContain('s3cret');
    }
  });

  it('the command line takes the flags, and a bad one is exit 2 before the store is opened', async () => {
    const { ctx } = capturedContext({});
    let err = '';
    ctx.io.stderr.on('data', (d) => {
      err += d;
    });
    const missing = join(tmpdir(), 'evco-cli-no-such-dir', 'events.db');
    const code = await runCli(['status', '--sqlite', missing, '--redis-cluster', 'h:99999'], ctx.io);
    expect(code).toBe(EXIT.usage);
    expect(err).toMatch(/^evco: --redis-cluster: "h:99999" is not host:port/);
  });
});

describe('TLS to Redis (--redis-tls, --redis-sentinel-tls, CA and client certificate files)', () => {
  let tls: TestTls;
  let other: TestTls;
  let dir: string;
  beforeAll(() => {
    tls = makeTestTls();
    other = makeTestTls();
    dir = mkdtempSync(join(tmpdir(), 'evco-cli-tls-'));
  });
  afterAll(() => {
    tls?.remove();
    other?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const resolved = (flags: ConnectionFlags, env: NodeJS.ProcessEnv = {}) =>
    redisConnection(resolveRedis(flags, env)!);

  it('a Cluster: tls for every node (redisOptions.tls), the PEM text read from the files', () => {
    expect(
      resolved(
        { redisCluster: 'a:7000', redisTls: true, redisTlsCa: tls.caFile },
        { EVCO_REDIS_PASSWORD: 'pw' },
      ),
    ).toEqual({
      cluster: { nodes: [{ host: 'a', port: 7000 }], shardedPubSub: true },
      redisOptions: { password: 'pw', tls: { ca: tls.ca } },
    });
    // From the environment, with a client certificate.
    expect(
      resolved(
        {},
        {
          EVCO_REDIS_CLUSTER: 'a:7000',
          EVCO_REDIS_TLS: 'true',
          EVCO_REDIS_TLS_CA_FILE: tls.caFile,
          EVCO_REDIS_TLS_CERT_FILE: tls.certFile,
          EVCO_REDIS_TLS_KEY_FILE: tls.keyFile,
        },
      ).redisOptions,
    ).toEqual({ tls: { ca: tls.ca, cert: tls.cert, key: tls.key } });
    // TLS off: no tls option, whatever the environment's files say (they may be another Redis's).
    expect(resolved({ redisCluster: 'a:7000' }, { EVCO_REDIS_TLS_CA_FILE: '/nowhere' }).redisOptions).toEqual(
      {},
    );
  });

  it('behind Sentinel: tls with enableTLSForSentinelMode for the master, sentinelTLS for the sentinels, each on its own', () => {
    const base = { redisSentinels: 's:26379', redisSentinelName: 'm' };
    expect(resolved({ ...base, redisTls: true, redisSentinelTls: true, redisTlsInsecure: true })).toEqual({
      sentinel: { name: 'm', sentinels: [{ host: 's', port: 26379 }] },
      redisOptions: {
        tls: { rejectUnauthorized: false },
        sentinelTLS: { rejectUnauthorized: false },
        enableTLSForSentinelMode: true,
      },
    });
    expect(resolved({ ...base, redisTls: true }).redisOptions).toEqual({
      tls: {},
      enableTLSForSentinelMode: true,
    });
    expect(resolved({ ...base, redisSentinelTls: true, redisTlsCa: tls.caFile }).redisOptions).toEqual({
      sentinelTLS: { ca: tls.ca },
    });
    expect(
      resolved(
        {},
        {
          EVCO_REDIS_SENTINELS: 's:26379',
          EVCO_REDIS_SENTINEL_NAME: 'm',
          EVCO_REDIS_SENTINEL_TLS: 'yes',
          EVCO_REDIS_TLS: '1',
          EVCO_REDIS_TLS_INSECURE: 'true',
        },
      ).redisOptions,
    ).toMatchObject({ tls: { rejectUnauthorized: false }, sentinelTLS: { rejectUnauthorized: false } });
  });

  it('a URL: its scheme decides; the files apply to a rediss:// one', () => {
    expect(resolved({ redisUrl: 'rediss://h:6380', redisTlsCa: tls.caFile })).toEqual({
      url: 'rediss://h:6380',
      redisOptions: { tls: { ca: tls.ca } },
    });
    expect(resolved({ redisUrl: 'rediss://h:6380' })).toEqual({
      url: 'rediss://h:6380',
      redisOptions: { tls: {} },
    });
    expect(resolved({ redisUrl: 'redis://h' }, { EVCO_REDIS_TLS: 'true' })).toEqual({ url: 'redis://h' });
  });

  it('refuses what cannot apply or cannot be read, before any I/O, naming the flag and never showing a key', () => {
    const write = (name: string, text: string) => {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    const notPem = write('not-pem.txt', 'hello');
    const cluster = { redisCluster: 'a:7000', redisTls: true };
    for (const [flags, env, message] of [
      [
        { redisUrl: 'redis://h', redisTls: true },
        {},
        /--redis-tls with a redis:\/\/ URL: write the URL as rediss:\/\//,
      ],
      [
        { redisCluster: 'a:7000', redisSentinelTls: true },
        {},
        /--redis-sentinel-tls applies only with --redis-sentinels/,
      ],
      [{ redisCluster: 'a:7000', redisTlsCa: tls.caFile }, {}, /--redis-tls-ca applies only with TLS/],
      [{ redisUrl: 'redis://h', redisTlsInsecure: true }, {}, /--redis-tls-insecure applies only with TLS/],
      [{ ...cluster, redisTlsCert: tls.certFile }, {}, /--redis-tls-cert needs --redis-tls-key/],
      [
        { ...cluster },
        { EVCO_REDIS_TLS_KEY_FILE: tls.keyFile },
        /EVCO_REDIS_TLS_KEY_FILE needs --redis-tls-cert/,
      ],
      [
        { ...cluster, redisTlsCa: tls.caFile, redisTlsInsecure: true },
        {},
        /give --redis-tls-ca or --redis-tls-insecure, not both/,
      ],
      [
        { ...cluster, redisTlsCa: join(dir, 'missing.pem') },
        {},
        /--redis-tls-ca: cannot read .*missing\.pem \(ENOENT\)/,
      ],
      [{ ...cluster, redisTlsCa: dir }, {}, /--redis-tls-ca: cannot read .* \(EISDIR\)/],
      [{ ...cluster, redisTlsCa: notPem }, {}, /--redis-tls-ca: .*not-pem\.txt holds no PEM certificate/],
      // A key given as the CA: refused without its text.
      [{ ...cluster, redisTlsCa: tls.keyFile }, {}, /--redis-tls-ca: .* holds no PEM certificate/],
      [
        { ...cluster, redisTlsCert: tls.certFile, redisTlsKey: notPem },
        {},
        /--redis-tls-key: .* is not an unencrypted PEM private key/,
      ],
      [
        { ...cluster, redisTlsCert: tls.certFile, redisTlsKey: other.keyFile },
        {},
        /--redis-tls-key: .* is not the key of the certificate in/,
      ],
      [{}, { EVCO_REDIS_CLUSTER: 'a:1', EVCO_REDIS_TLS: 'sure' }, /EVCO_REDIS_TLS must be true or false/],
      [
        { redisTls: true },
        {},
        /--redis-tls applies only with --redis-url, --redis-sentinels or --redis-cluster/,
      ],
    ] as const) {
      const error = refusal(flags, env);
      expect(error, JSON.stringify(flags)).toBeInstanceOf(UsageError);
      expect(String(error)).toMatch(message);
      for (const key of [tls.key, other.key]) {
        for (const line of key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) {
          expect(String(error)).not.toContain(line);
        }
      }
    }
  });

  it('the command line takes the flags; a bad one is exit 2 before the store or Redis is touched', async () => {
    const { ctx } = capturedContext({});
    let err = '';
    ctx.io.stderr.on('data', (d) => {
      err += d;
    });
    const missing = join(tmpdir(), 'evco-cli-no-such-dir', 'events.db');
    const flags = ['--redis-cluster', '127.0.0.1:1', '--redis-tls', '--redis-tls-cert', tls.certFile];
    expect(await runCli(['status', '--sqlite', missing, ...flags], ctx.io)).toBe(EXIT.usage);
    expect(err).toMatch(/^evco: --redis-tls-cert needs --redis-tls-key/);
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
