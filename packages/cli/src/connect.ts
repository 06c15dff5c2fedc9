import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import {
  type AdminClient,
  createAdminClient,
  createConsoleLogger,
  type EventPublisher,
  type EventStore,
  isEvcoError,
  type Logger,
  maskUrl,
  parseLogLevel,
} from '@evco/core';
import { parsesAsPostgresUrl } from '@evco/core/adapter';
import type { RedisPublisherOptions } from '@evco/publisher-redis';
import { UsageError } from './errors.js';

/** The connection flags every command takes. */
export interface ConnectionFlags {
  databaseUrl?: string;
  schema?: string;
  sqlite?: string;
  redisUrl?: string;
  /** Redis behind Sentinel: `host:port,…` of some or all sentinels (with `redisSentinelName`). */
  redisSentinels?: string;
  /** The master group the sentinels monitor (`sentinel monitor <name> …`). */
  redisSentinelName?: string;
  /** Redis Cluster: `host:port,…` seed nodes. */
  redisCluster?: string;
  /** `--no-redis-sharded-pubsub`: the fleet's publisher-redis runs `shardedPubSub: false`. */
  redisShardedPubsub?: boolean;
  /** publisher-redis `channelPrefix` of the fleet: the announcements must reach its channel. */
  channelPrefix?: string;
  /** TLS to the data nodes: the master behind Sentinel, the Cluster nodes (a URL: `rediss://`). */
  redisTls?: boolean;
  /** TLS to the sentinels themselves (ioredis `sentinelTLS`). */
  redisSentinelTls?: boolean;
  /** PEM file of the CA(s) the servers' certificates are verified with. */
  redisTlsCa?: string;
  /** PEM files of a client certificate and its key, for servers with `tls-auth-clients yes`. */
  redisTlsCert?: string;
  redisTlsKey?: string;
  /** Do not verify the servers' certificates (a test setup only). */
  redisTlsInsecure?: boolean;
}

export type Target =
  | { kind: 'postgres'; url: string; schema: string | undefined; where: string }
  | { kind: 'sqlite'; file: string; where: string };

/**
 * Which store the flags name, checked before anything is opened: `--sqlite FILE`, else
 * `--database-url` / `DATABASE_URL` (a `postgresql://` URL, or a `sqlite:` URL as the demo
 * accepts). `where` is what messages may show: the URL with its password masked.
 */
export function resolveTarget(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Target {
  const url = flags.databaseUrl ?? (flags.sqlite === undefined ? env.DATABASE_URL : undefined);
  if (flags.sqlite !== undefined && flags.databaseUrl !== undefined) {
    throw new UsageError('give --sqlite or --database-url, not both');
  }
  if (flags.sqlite !== undefined) {
    if (flags.sqlite.trim() === '') throw new UsageError('--sqlite needs a file name');
    if (flags.schema !== undefined) throw new UsageError('--schema applies to Postgres only');
    return { kind: 'sqlite', file: flags.sqlite, where: flags.sqlite };
  }
  if (url === undefined || url.trim() === '') {
    throw new UsageError('no store: give --database-url (or DATABASE_URL) for Postgres, or --sqlite FILE');
  }
  if (/^sqlite:/i.test(url)) {
    if (flags.schema !== undefined) throw new UsageError('--schema applies to Postgres only');
    return { kind: 'sqlite', file: url, where: url };
  }
  if (!/^postgres(ql)?:\/\//i.test(url) || !parsesAsPostgresUrl(url)) {
    throw new UsageError(
      `--database-url must be a postgresql:// or sqlite: URL, got "${maskUrl(url).slice(0, 200)}"`,
    );
  }
  return { kind: 'postgres', url, schema: flags.schema, where: maskUrl(url) };
}

function canParse(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/** `REDIS_URL` or `--redis-url`, checked like the database URL. */
export function resolveRedisUrl(flags: ConnectionFlags, env: NodeJS.ProcessEnv): string | undefined {
  const url = flags.redisUrl ?? env.REDIS_URL;
  if (url === undefined || url === '') return undefined;
  if (!/^rediss?:\/\//i.test(url) || !canParse(url)) {
    throw new UsageError(
      `--redis-url must be a redis:// or rediss:// URL, got "${maskUrl(url).slice(0, 200)}"`,
    );
  }
  return url;
}

export interface RedisNode {
  host: string;
  port: number;
}

/** Credentials of the data nodes behind Sentinel or of a Cluster (`EVCO_REDIS_*`, never flags). */
interface RedisAuth {
  username?: string;
  password?: string;
}

/** TLS options of a connection as ioredis (Node's `tls.connect`) takes them: PEM text, not files. */
export interface RedisTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: false;
}

/**
 * Where the CLI announces, as publisher-redis takes it: one server's URL, a master behind
 * Sentinel, or a Cluster. `where` is what output may show: no password in any form. `tls`: TLS
 * to the data nodes (a `rediss://` URL's server, the master, the Cluster nodes); `sentinelTls`:
 * to the sentinels.
 */
export type RedisTarget =
  | { kind: 'url'; url: string; where: string; tls?: RedisTls }
  | ({
      kind: 'sentinel';
      name: string;
      sentinels: RedisNode[];
      sentinelPassword?: string;
      where: string;
      tls?: RedisTls;
      sentinelTls?: RedisTls;
    } & RedisAuth)
  | ({
      kind: 'cluster';
      nodes: RedisNode[];
      shardedPubSub: boolean;
      where: string;
      tls?: RedisTls;
    } & RedisAuth);

/**
 * How `status` names the publisher's Redis: where (no password in any form) and the transport,
 * `tls`, `tls-unverified` (encrypted, the server's certificate not checked: `--redis-tls-insecure`)
 * or `plain`, to the data nodes and, behind Sentinel, to the sentinels. Never a file's content nor
 * whether a client certificate was given.
 */
export type RedisTransportKind = 'tls' | 'tls-unverified' | 'plain';

export interface RedisTransport {
  where: string;
  transport: RedisTransportKind;
  sentinelTransport?: RedisTransportKind;
}

export function redisTransport(target: RedisTarget): RedisTransport {
  const of = (tls: RedisTls | undefined): RedisTransportKind =>
    tls === undefined ? 'plain' : tls.rejectUnauthorized === false ? 'tls-unverified' : 'tls';
  return {
    where: target.where,
    transport: of(target.tls),
    ...(target.kind === 'sentinel' ? { sentinelTransport: of(target.sentinelTls) } : {}),
  };
}

/** `host:port`, `[v6]:port`; the port 1-65535. */
const NODE = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]@/]+):(\d{1,5})$/;

/** A comma-separated node list (a flag given twice counts as both lists). */
function parseNodes(value: string | string[], source: string): RedisNode[] {
  const items = (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (items.length === 0) throw new UsageError(`${source} needs at least one host:port`);
  if (items.length > 1000) throw new UsageError(`${source} takes at most 1000 nodes`);
  return items.map((item, i) => {
    const match = NODE.exec(item);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65_535) {
      // A node written with credentials (user:pass@host:port, a URL) is not repeated: the
      // password would be on the terminal. Credentials belong in the environment.
      const shown = /[@/]/.test(item) ? `node ${i + 1}` : `"${item.slice(0, 200)}"`;
      throw new UsageError(
        `${source}: ${shown} is not host:port (credentials go in EVCO_REDIS_PASSWORD / EVCO_REDIS_SENTINEL_PASSWORD, not in the list)`,
      );
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

const nodeList = (nodes: RedisNode[]) =>
  nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');

function redisAuth(env: NodeJS.ProcessEnv): RedisAuth {
  return {
    ...(env.EVCO_REDIS_USERNAME ? { username: env.EVCO_REDIS_USERNAME } : {}),
    ...(env.EVCO_REDIS_PASSWORD ? { password: env.EVCO_REDIS_PASSWORD } : {}),
  };
}

/**
 * Which Redis the CLI announces to, checked before anything is opened: `--redis-url`,
 * `--redis-sentinels` (with `--redis-sentinel-name`) or `--redis-cluster`. A flag wins over the
 * environment (`REDIS_URL`, `EVCO_REDIS_SENTINELS` + `EVCO_REDIS_SENTINEL_NAME`,
 * `EVCO_REDIS_CLUSTER`), so a shell whose environment names the application's Redis one way can
 * still point the CLI another; two on the same level are refused. Passwords come from the
 * environment only (`EVCO_REDIS_PASSWORD`, `EVCO_REDIS_SENTINEL_PASSWORD`; a URL's own): a
 * command line is visible to every local user.
 */
export function resolveRedis(flags: ConnectionFlags, env: NodeJS.ProcessEnv): RedisTarget | undefined {
  const fromFlags =
    flags.redisUrl !== undefined || flags.redisSentinels !== undefined || flags.redisCluster !== undefined;
  const given = fromFlags
    ? [
        ['--redis-url', flags.redisUrl],
        ['--redis-sentinels', flags.redisSentinels],
        ['--redis-cluster', flags.redisCluster],
      ]
    : [
        ['REDIS_URL', env.REDIS_URL || undefined],
        ['EVCO_REDIS_SENTINELS', env.EVCO_REDIS_SENTINELS || undefined],
        ['EVCO_REDIS_CLUSTER', env.EVCO_REDIS_CLUSTER || undefined],
      ];
  const set = given.filter(([, v]) => v !== undefined);
  if (set.length > 1) {
    throw new UsageError(
      fromFlags
        ? 'give one of --redis-url, --redis-sentinels or --redis-cluster'
        : `${set.map(([k]) => k).join(' and ')} are both set; unset one, or give a --redis-url, --redis-sentinels or --redis-cluster flag, which wins`,
    );
  }
  const [source, value] = set[0] ?? [];
  const kind = source?.replace(/^--redis-|^EVCO_REDIS_|^REDIS_/, '').toLowerCase();
  const sentinelName =
    flags.redisSentinelName ?? (fromFlags ? undefined : env.EVCO_REDIS_SENTINEL_NAME || undefined);
  if (kind !== 'sentinels' && flags.redisSentinelName !== undefined) {
    throw new UsageError('--redis-sentinel-name applies only with --redis-sentinels');
  }
  if (kind !== 'cluster' && flags.redisShardedPubsub !== undefined) {
    throw new UsageError(
      `--${flags.redisShardedPubsub ? '' : 'no-'}redis-sharded-pubsub applies only with --redis-cluster`,
    );
  }
  const tls = resolveRedisTls(flags, env, kind, typeof value === 'string' && /^rediss:/i.test(value));
  if (kind === 'sentinels') {
    if (sentinelName === undefined || sentinelName.trim() === '') {
      throw new UsageError(
        `${source} needs ${fromFlags ? '--redis-sentinel-name' : 'EVCO_REDIS_SENTINEL_NAME'} NAME: the master group the sentinels monitor (sentinel monitor <name> …)`,
      );
    }
    const sentinels = parseNodes(value as string, source as string);
    if (sentinels.length > 64) throw new UsageError(`${source} takes at most 64 sentinels`);
    return {
      kind: 'sentinel',
      name: sentinelName,
      sentinels,
      ...(env.EVCO_REDIS_SENTINEL_PASSWORD ? { sentinelPassword: env.EVCO_REDIS_SENTINEL_PASSWORD } : {}),
      ...redisAuth(env),
      where: `redis-sentinel://${nodeList(sentinels)}/${encodeURIComponent(sentinelName)}`,
      ...tls,
    };
  }
  if (kind === 'cluster') {
    const nodes = parseNodes(value as string, source as string);
    return {
      kind: 'cluster',
      nodes,
      shardedPubSub:
        flags.redisShardedPubsub ?? parseBoolean(env.EVCO_REDIS_SHARDED_PUBSUB, 'EVCO_REDIS_SHARDED_PUBSUB'),
      ...redisAuth(env),
      where: `redis-cluster://${nodeList(nodes)}`,
      ...tls,
    };
  }
  if (kind === 'url') {
    const url = resolveRedisUrl({ redisUrl: value as string }, {}) as string;
    return { kind: 'url', url, where: maskUrl(url), ...tls };
  }
  return undefined;
}

/**
 * The TLS of the chosen topology (`kind` as in `resolveRedis`), files read and checked before any
 * connection: `--redis-tls` / `EVCO_REDIS_TLS` for the data nodes (with a URL its scheme decides:
 * `rediss://`), `--redis-sentinel-tls` / `EVCO_REDIS_SENTINEL_TLS` for the sentinels, and the
 * CA, client certificate and `insecure` settings both share. A flag that cannot apply is refused;
 * a variable that cannot apply is ignored, as the environment may describe the application's own
 * Redis while a flag points the CLI elsewhere. No file's content is ever repeated.
 */
function resolveRedisTls(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  kind: string | undefined,
  rediss: boolean,
): { tls?: RedisTls; sentinelTls?: RedisTls } {
  if (kind === 'url' && flags.redisTls === true && !rediss) {
    throw new UsageError('--redis-tls with a redis:// URL: write the URL as rediss:// for TLS');
  }
  if (kind === undefined && flags.redisTls !== undefined) {
    throw new UsageError('--redis-tls applies only with --redis-url, --redis-sentinels or --redis-cluster');
  }
  if (kind !== 'sentinels' && flags.redisSentinelTls !== undefined) {
    throw new UsageError('--redis-sentinel-tls applies only with --redis-sentinels');
  }
  const data =
    kind === 'url'
      ? rediss
      : kind !== undefined && (flags.redisTls ?? parseBoolean(env.EVCO_REDIS_TLS, 'EVCO_REDIS_TLS', false));
  const sentinels =
    kind === 'sentinels' &&
    (flags.redisSentinelTls ?? parseBoolean(env.EVCO_REDIS_SENTINEL_TLS, 'EVCO_REDIS_SENTINEL_TLS', false));
  const given: Array<[string, string | boolean | undefined]> = [
    ['--redis-tls-ca', flags.redisTlsCa],
    ['--redis-tls-cert', flags.redisTlsCert],
    ['--redis-tls-key', flags.redisTlsKey],
    ['--redis-tls-insecure', flags.redisTlsInsecure],
  ];
  if (!data && !sentinels) {
    const flag = given.find(([, v]) => v !== undefined);
    if (flag) {
      throw new UsageError(
        `${flag[0]} applies only with TLS: --redis-tls, --redis-sentinel-tls or a rediss:// URL`,
      );
    }
    return {};
  }
  const file = (flag: string, name: string, value: string | undefined) => {
    const path = value ?? (env[name] || undefined);
    return path === undefined ? undefined : { source: value === undefined ? name : flag, path };
  };
  const ca = file('--redis-tls-ca', 'EVCO_REDIS_TLS_CA_FILE', flags.redisTlsCa);
  const cert = file('--redis-tls-cert', 'EVCO_REDIS_TLS_CERT_FILE', flags.redisTlsCert);
  const key = file('--redis-tls-key', 'EVCO_REDIS_TLS_KEY_FILE', flags.redisTlsKey);
  const insecure =
    flags.redisTlsInsecure ?? parseBoolean(env.EVCO_REDIS_TLS_INSECURE, 'EVCO_REDIS_TLS_INSECURE', false);
  if ((cert === undefined) !== (key === undefined)) {
    const [has, lacks] = cert
      ? [cert.source, '--redis-tls-key (EVCO_REDIS_TLS_KEY_FILE)']
      : [key!.source, '--redis-tls-cert (EVCO_REDIS_TLS_CERT_FILE)'];
    throw new UsageError(`${has} needs ${lacks}: a client certificate and its key go together`);
  }
  if (ca && insecure) {
    throw new UsageError(
      `give ${ca.source} or ${flags.redisTlsInsecure === undefined ? 'EVCO_REDIS_TLS_INSECURE' : '--redis-tls-insecure'}, not both: one verifies the servers, the other does not`,
    );
  }
  const options: RedisTls = {
    ...(ca ? { ca: readPem(ca, 'certificate') } : {}),
    ...(cert ? { cert: readPem(cert, 'certificate') } : {}),
    ...(key ? { key: readPem(key, 'key') } : {}),
    ...(insecure ? { rejectUnauthorized: false as const } : {}),
  };
  if (options.cert !== undefined) {
    try {
      createSecureContext({ cert: options.cert, key: options.key });
    } catch {
      throw new UsageError(`${key!.source}: ${key!.path} is not the key of the certificate in ${cert!.path}`);
    }
  }
  return { ...(data ? { tls: options } : {}), ...(sentinels ? { sentinelTls: options } : {}) };
}

/** A PEM certificate (bundle) or unencrypted private key file's text; its content never shown. */
function readPem(file: { source: string; path: string }, what: 'certificate' | 'key'): string {
  let text: string;
  try {
    text = readFileSync(file.path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'unreadable';
    throw new UsageError(`${file.source}: cannot read ${file.path} (${code})`);
  }
  try {
    if (what === 'certificate') {
      if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM');
      new X509Certificate(text);
    } else {
      createPrivateKey(text);
    }
  } catch {
    throw new UsageError(
      what === 'certificate'
        ? `${file.source}: ${file.path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`
        : `${file.source}: ${file.path} is not an unencrypted PEM private key`,
    );
  }
  return text;
}

/** A boolean variable (`true`/`1`/`yes`, `false`/`0`/`no`), `fallback` when unset. */
function parseBoolean(value: string | undefined, name: string, fallback = true): boolean {
  if (value === undefined || value === '') return fallback;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new UsageError(`${name} must be true or false`);
}

/**
 * Loads the store package the target needs. They are optional peer dependencies: an operator
 * on Postgres does not install better-sqlite3, and the other way round.
 */
async function openStore(
  target: Target,
  options: { mustExist: boolean },
  logger: Logger,
): Promise<EventStore> {
  if (target.kind === 'sqlite') {
    const file = target.file.replace(/^sqlite:(\/\/)?/i, '');
    // Opening a file creates it; only `migrate` may do that.
    if (options.mustExist && file !== ':memory:' && !existsSync(file)) {
      throw new UsageError(`no SQLite file at ${file}; "evco migrate --sqlite ${file}" creates one`);
    }
    // SQLite answers a directory with SQLITE_IOERR_READ ("disk I/O error"), which reads like a
    // failing disk rather than a wrong argument.
    if (file !== ':memory:' && existsSync(file) && statSync(file).isDirectory()) {
      throw new UsageError(`${file} is a directory; give the SQLite file of the store`);
    }
    const { createSqliteStore, readSqliteSchemaVersion } = await importPeer<
      typeof import('@evco/store-sqlite')
    >('@evco/store-sqlite', 'a SQLite store');
    // The store migrates a file whenever it opens it: only `migrate` may add evco's tables to a
    // file (say, another application's database named by mistake). A store-sqlite older than
    // this check (the peer range allows one) lacks the function; the check is then skipped.
    if (
      options.mustExist &&
      file !== ':memory:' &&
      typeof readSqliteSchemaVersion === 'function' &&
      readSqliteSchemaVersion({ filename: file }) === 0
    ) {
      throw new UsageError(`${file} has no evco tables; "evco migrate --sqlite ${file}" creates them`);
    }
    // store-sqlite logs nothing: no logger to give it.
    return createSqliteStore({ filename: target.file });
  }
  const { createPostgresStore } = await importPeer<typeof import('@evco/store-postgres')>(
    '@evco/store-postgres',
    'a Postgres store',
  );
  // The CLI's logger, not the store's default one (info): behind PgBouncer the store says at info
  // what it found there, a stray JSON line on stderr around a command's output.
  return withLogger(
    createPostgresStore,
    {
      connectionString: target.url,
      ...(target.schema === undefined ? {} : { schema: target.schema }),
      poolSize: 2,
      connectionTimeoutMs: 5000,
      applicationName: 'evco-cli',
    },
    logger,
  );
}

/**
 * `create({ ...options, logger })`, or `create(options)` when the adapter refuses `logger` as an
 * unknown option: store-postgres takes one since the release that logs behind a pooler, and the
 * peer range allows older ones, whose strict options refuse the key (before any I/O) and which
 * log nothing there anyway. Any other invalid option is thrown as it is.
 */
export function withLogger<O extends object, R>(
  create: (options: O & { logger: Logger }) => R,
  options: O,
  logger: Logger,
): R {
  try {
    return create({ ...options, logger });
  } catch (error) {
    const issues = isEvcoError(error, 'INVALID_OPTIONS')
      ? ((error as { issues?: ReadonlyArray<{ path: string }> }).issues ?? [])
      : [];
    if (!issues.some((i) => i.path === 'logger')) throw error;
    return create(options as O & { logger: Logger });
  }
}

/**
 * The options an application gives publisher-redis for `target`, so the CLI reaches the fleet the
 * way the fleet does (on a Cluster: sharded Pub/Sub unless the fleet turned it off).
 */
export function redisConnection(
  target: RedisTarget,
): Pick<RedisPublisherOptions, 'url' | 'sentinel' | 'cluster' | 'redisOptions'> {
  const auth = target.kind === 'url' ? {} : { username: target.username, password: target.password };
  // TLS as ioredis takes it: `tls` for the data nodes (behind Sentinel only with
  // enableTLSForSentinelMode, else ioredis waits for a TLS handshake on a plain socket to the
  // master), `sentinelTLS` for the sentinels; on a Cluster `tls` goes to every node.
  const tls = {
    tls: target.tls,
    ...(target.kind === 'sentinel'
      ? {
          sentinelTLS: target.sentinelTls,
          enableTLSForSentinelMode: target.tls === undefined ? undefined : true,
        }
      : {}),
  };
  const redisOptions = Object.fromEntries(
    Object.entries({ ...auth, ...tls }).filter(([, v]) => v !== undefined),
  );
  return target.kind === 'url'
    ? { url: target.url, ...(Object.keys(redisOptions).length ? { redisOptions } : {}) }
    : target.kind === 'sentinel'
      ? {
          sentinel: {
            name: target.name,
            sentinels: target.sentinels,
            ...(target.sentinelPassword === undefined ? {} : { sentinelPassword: target.sentinelPassword }),
          },
          redisOptions,
        }
      : { cluster: { nodes: target.nodes, shardedPubSub: target.shardedPubSub }, redisOptions };
}

async function openPublisher(
  target: RedisTarget,
  channelPrefix: string | undefined,
  logger: Logger,
): Promise<EventPublisher> {
  const { createRedisPublisher } = await importPeer<typeof import('@evco/publisher-redis')>(
    '@evco/publisher-redis',
    target.kind === 'url' ? '--redis-url' : `--redis-${target.kind === 'sentinel' ? 'sentinels' : 'cluster'}`,
  );
  // The CLI's logger (silent unless EVCO_LOG_LEVEL), not the publisher's default one: a Redis
  // that is down would otherwise print its reconnect warnings as JSON lines around the output.
  // The fleet's prefix, or the announcements go to a channel no coordinator listens on (the
  // deployment guide gives every application and environment its own).
  return createRedisPublisher({
    ...redisConnection(target),
    logger,
    ...(channelPrefix === undefined ? {} : { channelPrefix }),
  });
}

/**
 * Imports an optional peer. It resolves from where @evco/cli is installed, not from the working
 * directory, so the hint names both installs: a global evco needs the peer installed globally.
 */
export async function importPeer<T>(name: string, what: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String(error).includes(name)) {
      throw new UsageError(
        `${what} needs ${name}, installed where @evco/cli is: npm install -g ${name} for a global evco, npm install ${name} in the project otherwise`,
      );
    }
    throw error;
  }
}

export interface Connection {
  admin: AdminClient;
  target: Target;
  /** The Redis the publisher announces to (`announce` only). */
  redis: RedisTarget | undefined;
}

/**
 * An admin client on the flags' store (and publisher, when `announce` and a Redis URL are
 * given): it never registers, claims or runs anything.
 */
export async function connect(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  options: { announce?: boolean; mustExist?: boolean } = {},
): Promise<Connection> {
  const target = resolveTarget(flags, env);
  const redis = options.announce ? resolveRedis(flags, env) : undefined;
  // Log lines only when asked for (EVCO_LOG_LEVEL): the output is the command's.
  const logger = createConsoleLogger({ level: parseLogLevel(env.EVCO_LOG_LEVEL, 'silent') });
  const store = await openStore(target, { mustExist: options.mustExist ?? true }, logger);
  let publisher: EventPublisher | undefined;
  try {
    const channelPrefix = flags.channelPrefix ?? (env.EVCO_REDIS_CHANNEL_PREFIX || undefined);
    if (redis) publisher = await openPublisher(redis, channelPrefix, logger);
  } catch (error) {
    await store.close();
    throw error;
  }
  const admin = await createAdminClient({ store, publisher, logger });
  return { admin, target, redis };
}
