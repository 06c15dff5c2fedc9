import { existsSync, statSync } from 'node:fs';
import {
  type AdminClient,
  createAdminClient,
  createConsoleLogger,
  type EventPublisher,
  type EventStore,
  type Logger,
  maskUrl,
  parseLogLevel,
} from '@evco/core';
import { parsesAsPostgresUrl } from '@evco/core/adapter';
import { UsageError } from './errors.js';

/** The connection flags every command takes. */
export interface ConnectionFlags {
  databaseUrl?: string;
  schema?: string;
  sqlite?: string;
  redisUrl?: string;
  /** publisher-redis `channelPrefix` of the fleet: the announcements must reach its channel. */
  channelPrefix?: string;
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

/**
 * Loads the store package the target needs. They are optional peer dependencies: an operator
 * on Postgres does not install better-sqlite3, and the other way round.
 */
async function openStore(target: Target, options: { mustExist: boolean }): Promise<EventStore> {
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
    return createSqliteStore({ filename: target.file });
  }
  const { createPostgresStore } = await importPeer<typeof import('@evco/store-postgres')>(
    '@evco/store-postgres',
    'a Postgres store',
  );
  return createPostgresStore({
    connectionString: target.url,
    ...(target.schema === undefined ? {} : { schema: target.schema }),
    poolSize: 2,
    connectionTimeoutMs: 5000,
    applicationName: 'evco-cli',
  });
}

async function openPublisher(
  url: string,
  channelPrefix: string | undefined,
  logger: Logger,
): Promise<EventPublisher> {
  const { createRedisPublisher } = await importPeer<typeof import('@evco/publisher-redis')>(
    '@evco/publisher-redis',
    '--redis-url',
  );
  // The CLI's logger (silent unless EVCO_LOG_LEVEL), not the publisher's default one: a Redis
  // that is down would otherwise print its reconnect warnings as JSON lines around the output.
  // The fleet's prefix, or the announcements go to a channel no coordinator listens on (the
  // deployment guide gives every application and environment its own).
  return createRedisPublisher({ url, logger, ...(channelPrefix === undefined ? {} : { channelPrefix }) });
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
  const redisUrl = options.announce ? resolveRedisUrl(flags, env) : undefined;
  const store = await openStore(target, { mustExist: options.mustExist ?? true });
  const logger = createConsoleLogger({ level: parseLogLevel(env.EVCO_LOG_LEVEL, 'silent') });
  let publisher: EventPublisher | undefined;
  try {
    const channelPrefix = flags.channelPrefix ?? (env.EVCO_REDIS_CHANNEL_PREFIX || undefined);
    if (redisUrl) publisher = await openPublisher(redisUrl, channelPrefix, logger);
  } catch (error) {
    await store.close();
    throw error;
  }
  const admin = await createAdminClient({ store, publisher, logger });
  return { admin, target };
}
