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
      client.release(lostError ?? destroy);
    },
  };
}
