import type pg from 'pg';
import { GENERIC_PLANS_OPTION } from './sql.js';

/**
 * What the store's own connections ask the server for at startup, as `pg_settings` reports it
 * (`statement_timeout` in milliseconds). A setting the store does not send is absent.
 */
export interface SessionSettings {
  plan_cache_mode?: string | undefined;
  statement_timeout?: string | undefined;
}

/**
 * The startup settings of a direct connection. Prepared statements are planned once per
 * connection; left to choose, Postgres keeps re-planning the append and claim CTEs (custom
 * plans) at a cost above running them, and their generic plans are the same index plans (the
 * EXPLAIN test checks both kinds). Without prepared statements there is nothing to cache.
 */
export function sessionSettings(options: {
  statementTimeoutMs: number;
  preparedStatements: boolean;
}): SessionSettings | undefined {
  const settings: SessionSettings = {};
  if (options.preparedStatements) settings.plan_cache_mode = 'force_generic_plan';
  if (options.statementTimeoutMs > 0) settings.statement_timeout = String(options.statementTimeoutMs);
  return Object.keys(settings).length === 0 ? undefined : settings;
}

/**
 * True when the server does not run with what was asked at startup. Startup parameters outrank
 * role and database defaults, so the only way to lose one is a middleman that dropped it: a
 * PgBouncer told to `ignore_startup_parameters`, which pools transactions as well.
 */
export function sessionSettingsDropped(sent: SessionSettings, got: SessionSettings): boolean {
  return (
    (sent.plan_cache_mode !== undefined && got.plan_cache_mode !== sent.plan_cache_mode) ||
    (sent.statement_timeout !== undefined && got.statement_timeout !== sent.statement_timeout)
  );
}

/** The connection part of the pool's config: the URL plus the startup settings, if any. */
export function poolConnection(
  connectionString: string,
  settings: SessionSettings | undefined,
): Pick<pg.PoolConfig, 'connectionString' | 'options' | 'statement_timeout'> {
  if (!settings) return { connectionString };
  const config: Pick<pg.PoolConfig, 'connectionString' | 'options' | 'statement_timeout'> = {
    connectionString,
  };
  if (settings.statement_timeout !== undefined) config.statement_timeout = Number(settings.statement_timeout);
  if (settings.plan_cache_mode !== undefined) {
    const [url, options] = withSessionOption(connectionString, GENERIC_PLANS_OPTION);
    config.connectionString = url;
    if (options !== undefined) config.options = options;
  }
  return config;
}

/** The pool config behind a transaction pooler: the URL as given, nothing else at startup. */
export function withoutSessionSettings(
  connectionString: string,
): Pick<pg.PoolConfig, 'connectionString' | 'options' | 'statement_timeout'> {
  return { connectionString, options: undefined, statement_timeout: undefined };
}

/**
 * Adds a `-c name=value` startup option. pg lets a connection string's own `options` override
 * the config's, so when the string has some, ours is appended there instead.
 */
function withSessionOption(connectionString: string, option: string): [string, string | undefined] {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return [connectionString, option];
  }
  const given = url.searchParams.get('options');
  if (given === null) return [connectionString, option];
  url.searchParams.set('options', `${given} ${option}`);
  return [url.toString(), undefined];
}
