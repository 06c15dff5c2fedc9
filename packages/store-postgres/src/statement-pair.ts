import pg from 'pg';

/** A statement as the store sends it: named (prepared once per connection) or not. */
export interface PairedStatement {
  name?: string | undefined;
  text: string;
}

/** What of pg's `Connection` the pair writes to (the extended protocol's messages). */
interface ProtocolConnection {
  stream: { cork?: (() => void) | undefined; uncork?: (() => void) | undefined };
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
  parse(query: { text: string; name: string; types: unknown[] }): void;
  bind(config: { portal: string; statement: string; values: string[] }): void;
  describe(config: { type: 'P'; name: string }): void;
  execute(config: { portal: string; rows: number }): void;
}

/**
 * Two statements in one round trip and one implicit transaction: `first` (its values strings or
 * null) and then `second` are each bound and executed, with a single `Sync` after both, so the
 * server runs them in one transaction it commits at the `Sync`, and answers once (it flushes its
 * replies at `Sync`). Each takes its own snapshot in READ COMMITTED, the second's after the first
 * has run: a transaction-level lock the first takes is held while the second runs and from
 * before its snapshot. pg sends a `Sync` after every query, so this is a query of its own kind (a
 * `Submittable`, as pg-cursor is). A named statement is parsed once per connection, as pg does;
 * when both are parsed here, `second` first, so that pg, which takes the first `ParseComplete`
 * for the query's own (`second`'s) statement, records the right one. Unnamed, `first` goes first
 * (parsing the unnamed statement again replaces it).
 */
class StatementPair extends pg.Query {
  constructor(
    first: PairedStatement,
    firstValues: readonly (string | null)[],
    second: PairedStatement,
    secondValues: unknown[],
    callback: (error: Error | undefined, results: pg.QueryResult | pg.QueryResult[]) => void,
  ) {
    super({ ...second, values: secondValues }, callback as never);
    // pg's types declare `submit` a property, so it is one here too.
    const prepareSecond = (this as unknown as { prepare(c: ProtocolConnection): void }).prepare.bind(this);
    (this as unknown as { submit: (c: ProtocolConnection) => null }).submit = (connection) => {
      const parsed = (name: string) =>
        connection.parsedStatements[name] !== undefined ||
        connection.submittedNamedStatements[name] !== undefined;
      const parse = (s: PairedStatement) => {
        connection.parse({ text: s.text, name: s.name ?? '', types: [] });
        if (s.name !== undefined) connection.submittedNamedStatements[s.name] = s.text;
      };
      connection.stream.cork?.();
      try {
        if (second.name !== undefined && !parsed(second.name)) parse(second);
        if (first.name === undefined || !parsed(first.name)) parse(first);
        connection.bind({ portal: '', statement: first.name ?? '', values: firstValues as string[] });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '', rows: 0 });
        // The second as pg sends a query: parse when still needed, bind, describe, execute, Sync.
        prepareSecond(connection);
      } finally {
        connection.stream.uncork?.();
      }
      return null;
    };
  }
}

/**
 * Whether `client` can take a `StatementPair`: a JavaScript `pg` client whose protocol
 * connection has what the pair writes through (pg 8.12 and later). A pool the application passes
 * may be `pg-native`'s (no protocol connection at all) or an older `pg`'s (no
 * `submittedNamedStatements`): those get the statements one round trip each.
 */
export function canSendPair(client: unknown): boolean {
  const connection = (client as { connection?: Partial<ProtocolConnection> | undefined } | null)?.connection;
  return (
    typeof connection === 'object' &&
    connection !== null &&
    typeof connection.parse === 'function' &&
    typeof connection.bind === 'function' &&
    typeof connection.describe === 'function' &&
    typeof connection.execute === 'function' &&
    typeof connection.parsedStatements === 'object' &&
    typeof connection.submittedNamedStatements === 'object'
  );
}

/** Sends `first` and `second` as `StatementPair` on `client`; their two results. */
export function sendPair<R1 extends pg.QueryResultRow, R2 extends pg.QueryResultRow>(
  client: Pick<pg.ClientBase, 'query'>,
  first: PairedStatement,
  firstValues: readonly (string | null)[],
  second: PairedStatement,
  secondValues: unknown[],
): Promise<[pg.QueryResult<R1>, pg.QueryResult<R2>]> {
  return new Promise((resolve, reject) => {
    const pair = new StatementPair(first, firstValues, second, secondValues, (error, results) => {
      if (error) reject(error);
      else if (!Array.isArray(results) || results.length !== 2) {
        reject(
          new Error(
            `expected two results from a statement pair, got ${Array.isArray(results) ? results.length : 1}`,
          ),
        );
      } else resolve(results as [pg.QueryResult<R1>, pg.QueryResult<R2>]);
    });
    client.query(pair as unknown as pg.QueryConfig);
  });
}
