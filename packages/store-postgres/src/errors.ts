import {
  ConcurrencyError,
  DuplicateEventError,
  EvcoError,
  EventValidationError,
  isEvcoError,
  maskSecrets,
  StoreSchemaError,
  StoreUnavailableError,
} from '@evco/core/adapter';
import { SOURCE } from './options.js';

/** Node socket errors that mean "the server is not there (any more)". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** SQLSTATEs of bad values that validation should have caught before the statement. */
const DATA_CODES = new Set([
  '22P02', // invalid_text_representation
  '22P05', // untranslatable_character
  '22007', // invalid_datetime_format
  '22008', // datetime_field_overflow
  '22003', // numeric_value_out_of_range
  '22021', // character_not_in_repertoire
  '22001', // string_data_right_truncation
  '22023', // invalid_parameter_value
  '22030', // duplicate_json_object_key_value
  '22032', // invalid_json_text
  '23502', // not_null_violation
  '23514', // check_violation
]);

/**
 * evco and a transaction-mode pooler (PgBouncer) disagree: the message names the option to set.
 * Code `TRANSACTION_POOLER`.
 */
export class TransactionPoolerError extends EvcoError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TRANSACTION_POOLER', message, { ...options, source: SOURCE });
  }
}

/**
 * PgBouncer's answer to a startup parameter it does not know (`options`, `statement_timeout`, …);
 * 1.20+ reads `options` and names the parameter inside it it cannot keep
 * (`unsupported startup parameter in options: plan_cache_mode`).
 */
const UNSUPPORTED_STARTUP_PARAMETER = /unsupported startup parameter(?: in (options))?:?\s*([A-Za-z_.]+)?/i;

/**
 * The parameter a pooler refused at connection time (`plan_cache_mode (in options)` for one
 * inside `options`), or `undefined` for any other error.
 */
export function refusedStartupParameter(error: unknown): string | undefined {
  const refused = parseRefusal(error);
  return refused && (refused.within ? `${refused.name} (in ${refused.within})` : refused.name);
}

function parseRefusal(error: unknown): { name: string; within: string | undefined } | undefined {
  const message = (error as PgLikeError | undefined)?.message;
  if (typeof message !== 'string') return undefined;
  const match = UNSUPPORTED_STARTUP_PARAMETER.exec(message);
  return match ? { name: match[2] ?? 'unknown', within: match[1] } : undefined;
}

/** A named statement of this store found missing or already there: it met another server session. */
function isStatementCrossTalk(code: string, message: string): boolean {
  return (code === '42P05' || code === '26000') && /prepared statement "evco_/.test(message);
}

/** `isStatementCrossTalk` of a driver error. */
export function metAnotherSession(error: unknown): boolean {
  const e = (typeof error === 'object' && error !== null ? error : {}) as PgLikeError;
  return isStatementCrossTalk(e.code ?? '', typeof e.message === 'string' ? e.message : '');
}

interface PgLikeError {
  code?: string | undefined;
  constraint?: string | undefined;
  detail?: string | undefined;
  message?: string | undefined;
}

/**
 * Turns a driver error into evco's typed errors. `where` is the masked URL of the server, the
 * only way a connection detail reaches a message.
 */
export function translateError(error: unknown, where: string): Error {
  if (isEvcoError(error)) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as PgLikeError;
  const code = e.code ?? '';
  const message = maskSecrets(typeof e.message === 'string' ? e.message : String(error));
  const options = { source: SOURCE, cause: error };

  if (code === '23505') {
    if (e.constraint === 'events_event_id_key') {
      const id = /\(event_id\)=\(([^)]*)\)/.exec(e.detail ?? '')?.[1];
      return new DuplicateEventError(`an event with id ${id ?? '(unknown)'} is already stored`, id, options);
    }
    if (e.constraint === 'events_aggregate_version_key') {
      const match = /\(aggregate_id, aggregate_version\)=\((.*), (\d+)\)/s.exec(e.detail ?? '');
      const aggregateId = match?.[1];
      const aggregateVersion = match?.[2] === undefined ? undefined : Number(match[2]);
      return new ConcurrencyError(
        match
          ? `aggregate ${aggregateId} already has version ${aggregateVersion}`
          : 'an aggregate version in the batch is already taken',
        { aggregateId, aggregateVersion },
        options,
      );
    }
  }
  const refused = parseRefusal(error);
  if (refused !== undefined) {
    const { name, within } = refused;
    return new TransactionPoolerError(
      `a pooler in front of postgres at ${where} refused the startup parameter "${name}"` +
        `${within ? ` (in ${within})` : ''}: ` +
        `use pooler: 'auto' or 'transaction' (the store then sends no session settings), and ` +
        `drop "${name}" from the connection string${within ? `'s ${within}` : ''} if it is there`,
      { cause: error },
    );
  }
  if (isStatementCrossTalk(code, message)) {
    return new TransactionPoolerError(
      `postgres at ${where} lost track of a prepared statement (${message}): a transaction pooler ` +
        `such as PgBouncer hands each transaction to any server connection. Set pooler: 'transaction' ` +
        `(or preparedStatements: false), or keep named statements with PgBouncer 1.21+ and ` +
        `max_prepared_statements > 0`,
      { cause: error },
    );
  }
  if (DATA_CODES.has(code)) {
    return new EventValidationError([{ path: '', message: `rejected by postgres (${code}): ${message}` }], {
      ...options,
      subject: 'value',
    });
  }
  if (code === '42P01' || code === '3F000' || code === '42703') {
    return new StoreSchemaError(
      `the store's tables are missing or out of date at ${where} (${message}); run store.migrate() or \`evco migrate\``,
      options,
    );
  }
  if (code === '42501') {
    // The role lacks a privilege: usually the first migrate() by an application role.
    return new EvcoError(
      'STORE_FAILED',
      `postgres at ${where} denied the store's role a privilege: ${message} (migrations need CREATE on the database the first time, e.g. GRANT CREATE ON DATABASE … TO …, or run them once as a role that has it with \`evco migrate\`; afterwards the role needs USAGE on the schema and read/write on its tables)`,
      options,
    );
  }
  if (code === '25P03') {
    // The store's one transaction that waits on application code is a retention batch running
    // its archive hook; retrying does not help while the hook is slower than the setting.
    return new EvcoError(
      'STORE_FAILED',
      `postgres at ${where} ended the store's session: ${message} (a transaction stayed idle longer than idle_in_transaction_session_timeout, typically a retention batch waiting for its archive hook: set the timeout above archiveTimeoutMs, for the role or the database, or make the hook faster; the batch was rolled back, nothing of it removed)`,
      options,
    );
  }
  const refusal = connectionRefusal(code, message);
  if (refusal !== undefined) {
    // Not a statement that failed: the server turned the connection away. Retrying does not help
    // until the connection string (or the server's pg_hba.conf / roles) changes.
    return new EvcoError('STORE_FAILED', `postgres at ${where} ${refusal}`, options);
  }
  if (
    isUnavailable(code, message) ||
    (code === 'ENOENT' && (error as { syscall?: string | undefined }).syscall === 'connect')
  ) {
    return new StoreUnavailableError(`postgres at ${where} is unavailable: ${message}`, options);
  }
  return new EvcoError('STORE_FAILED', `postgres at ${where} failed a statement: ${message}`, options);
}

function isUnavailable(code: string, message: string): boolean {
  if (NETWORK_CODES.has(code)) return true;
  // Class 08: connection exceptions; 57P0x: shutdown / crash / not yet accepting; 53300: too many
  // connections; 57014: statement timeout; 40P01 is a deadlock and deliberately not here.
  if (code.startsWith('08') || /^57P0[1-4]$/.test(code) || code === '53300' || code === '57014') return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable/i.test(
    message,
  );
}

/**
 * What the server said when it refused the connection itself (SQLSTATE class 28, an unknown
 * database), or the driver's words when the server asks for a password the URL does not have:
 * a sentence naming what to fix, or `undefined` for any other error.
 */
function connectionRefusal(code: string, message: string): string | undefined {
  if (code === '28P01') {
    return `refused the connection: ${message} (check the user and password in the connection string)`;
  }
  if (code.startsWith('28')) {
    return `refused the connection: ${message} (check the user in the connection string, and pg_hba.conf on the server)`;
  }
  if (code === '3D000') {
    return `refused the connection: ${message} (check the database name in the connection string; the store creates its schema, not the database)`;
  }
  if (/client password must be a string|password authentication/i.test(message) && code === '') {
    return `asks for a password and none was given: add it to the connection string after the user name and a colon, or set PGPASSWORD (${message})`;
  }
  return undefined;
}
