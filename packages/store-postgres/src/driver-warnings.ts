/**
 * What pg would otherwise print on stderr, or drop, outside evco's logger.
 *
 * pg parses a connection string each time it makes a client, and pg-connection-string warns about
 * `sslmode=prefer|require|verify-ca` (a SECURITY WARNING: pg treats them as `verify-full`) with
 * `process.emitWarning`, once per process: Node prints that on stderr whatever the log level.
 * `parseWarningsToLogger` parses the string first, in one synchronous call during which
 * `process.emitWarning` is taken over: what pg warns goes to the logger at `warn`, and pg, having
 * warned once, has nothing left to print later.
 *
 * A server's NOTICE or WARNING messages (`RAISE WARNING`, a notice from an extension) are
 * `'notice'` events of the pg client, dropped when nobody listens: `logNotices` sends them to the
 * logger, WARNING at `warn` and the rest (NOTICE, INFO, LOG, DEBUG) at `debug`.
 */
import type { Logger } from '@evco/core';
import { maskSecrets } from '@evco/core/adapter';
import pg from 'pg';

export function parseWarningsToLogger(connectionString: string, logger: Logger): void {
  const emitWarning = process.emitWarning;
  const caught: string[] = [];
  process.emitWarning = ((warning: string | Error) => {
    caught.push(typeof warning === 'string' ? warning : warning.message);
  }) as typeof process.emitWarning;
  try {
    // Parses the string (ConnectionParameters); opens nothing until connect().
    new pg.Client({ connectionString });
  } catch {
    // A string pg cannot parse fails where the store first connects, and is reported there.
  } finally {
    process.emitWarning = emitWarning;
  }
  for (const text of caught) logger.warn({ driver: 'pg' }, `pg: ${oneLine(text)}`);
}

/** Sends the server's notices on `client` to the logger. */
export function logNotices(client: pg.Client | pg.PoolClient, logger: Logger): void {
  client.on('notice', (notice) => {
    const severity = notice.severity ?? 'NOTICE';
    const fields = { driver: 'pg', severity, code: notice.code };
    const text = `postgres ${severity}: ${oneLine(notice.message ?? '')}`;
    if (severity === 'WARNING') logger.warn(fields, text);
    else logger.debug(fields, text);
  });
}

function oneLine(text: string): string {
  return maskSecrets(text.replace(/\s*\n\s*/g, ' ').trim());
}
