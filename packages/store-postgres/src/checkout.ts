import type pg from 'pg';

/** A pool connection checked out for a transaction, and what ended it meanwhile, if anything. */
export interface CheckedOut {
  readonly client: pg.PoolClient;
  /** The error the connection emitted while checked out (the server ended the session), if any. */
  lost(): Error | undefined;
  /** Back to the pool, or destroyed when `destroy` or when the connection was lost. */
  release(destroy?: boolean): void;
}

/**
 * `pool.connect()`, listening for the connection's 'error' until it is released. pg's pool only
 * listens on idle connections: one checked out that the server ends between two statements
 * (`idle_in_transaction_session_timeout` while a retention archive hook runs, a
 * `pg_terminate_backend`, a fast shutdown) emits 'error' with nobody listening, which crashes the
 * process. Recorded here instead, for the transaction to report.
 */
export async function checkout(pool: pg.Pool): Promise<CheckedOut> {
  const client = await pool.connect();
  return hold(client, (destroy) => client.release(destroy));
}

/**
 * `client`, checked out, listened to for 'error' until `giveBack` returns it: to the pool, or
 * destroyed when asked to or when the connection was lost meanwhile (`checkout`, `queryHeld`).
 */
function hold(client: pg.PoolClient, giveBack: (destroy?: Error | true) => void): CheckedOut {
  let lostError: Error | undefined;
  const onError = (error: Error) => {
    lostError ??= error;
  };
  client.on('error', onError);
  return {
    client,
    lost: () => lostError,
    release: (destroy = false) => {
      client.off('error', onError);
      giveBack(lostError ?? (destroy ? true : undefined));
    },
  };
}

/**
 * One statement on a connection of the pool and, when `then` asks for one on its result, a second
 * on the same connection before it goes back (a `close()` begun meanwhile waits for it, as for any
 * checked-out connection). Resolves with the results, one or two. By callbacks, as pg-pool's own
 * `query` is, rather than `checkout` and a promise per statement: about 9 k fewer instructions
 * per call outside the collector (bench README, "Syscalls, statements and the `writev` time").
 * The connection's 'error' is listened for while it is held, as by `checkout`; a failure, or an
 * 'error' while held, destroys it rather than giving it back.
 */
export function queryHeld<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  first: pg.QueryConfig,
  then: (result: pg.QueryResult<R>) => pg.QueryConfig | undefined,
): Promise<Array<pg.QueryResult<R>>> {
  return new Promise((resolve, reject) => {
    pool.connect((connectError, client, done) => {
      // pg-pool 3 passes `undefined` on success; a pool of another version may pass `null`.
      if (connectError || client === undefined) {
        reject(connectError ?? new Error('the pool gave no connection'));
        return;
      }
      const held = hold(client, done);
      const results: Array<pg.QueryResult<R>> = [];
      const settle = (error: unknown) => {
        held.release(error !== undefined);
        if (error === undefined) resolve(results);
        else reject(error);
      };
      const next = (error: Error | null | undefined, result: pg.QueryResult<R>) => {
        if (error) {
          settle(error);
          return;
        }
        results.push(result);
        let second: pg.QueryConfig | undefined;
        try {
          second = results.length === 1 ? then(result) : undefined;
        } catch (thenError) {
          settle(thenError);
          return;
        }
        if (second === undefined) settle(undefined);
        else client.query<R>(second, next);
      };
      client.query<R>(first, next);
    });
  });
}
