/**
 * Every error evco throws is an `EvcoError` with a stable string `code`.
 *
 * Check errors with `isEvcoError(e, 'CONCURRENCY')` rather than `instanceof`: adapters are
 * separate packages, and two copies of `@evco/core` in one `node_modules` would make
 * `instanceof` lie. The brand below survives that.
 */
const BRAND = Symbol.for('evco.error');

/**
 * Every code any evco package throws; closed, so a `switch` over it (or a
 * `Record<EvcoErrorCode, …>` such as an HTTP status table) is checked for completeness.
 */
export type EvcoErrorCode =
  /** An event (or a query) failed validation: `EventValidationError`, with `issues`. */
  | 'EVENT_VALIDATION'
  /** Options or arguments are wrong: `InvalidOptionsError`, with `issues`; before any I/O. */
  | 'INVALID_OPTIONS'
  /** A string that should be a position (a decimal integer) is not one. */
  | 'INVALID_POSITION'
  /** An aggregate version was already taken: `ConcurrencyError`. */
  | 'CONCURRENCY'
  /** An event id is already stored (or twice in one batch): `DuplicateEventError`. */
  | 'DUPLICATE_EVENT'
  /** A handler name is already registered in this process: `DuplicateHandlerError`. */
  | 'DUPLICATE_HANDLER'
  /** A replay names a handler nobody subscribed. */
  | 'UNKNOWN_HANDLER'
  /** Something named by id does not exist (a replay, an event): `NotFoundError`. */
  | 'NOT_FOUND'
  /** A transactional publish got a client that is not usable (not in a transaction, another database). */
  | 'INVALID_TRANSACTION'
  /** The store lacks an optional capability the call needs (e.g. the outbox's `appendWithin`). */
  | 'UNSUPPORTED'
  /** The store cannot be reached or is closed: `StoreUnavailableError`; worth retrying. */
  | 'STORE_UNAVAILABLE'
  /** The store's schema is missing or from another version: `StoreSchemaError`. */
  | 'STORE_SCHEMA'
  /** The store refused a statement for a reason retrying will not fix (store-postgres), or cannot load its driver (store-sqlite: better-sqlite3's native module). */
  | 'STORE_FAILED'
  /** store-postgres reached a transaction-mode pooler that cannot hold its sessions. */
  | 'TRANSACTION_POOLER'
  /** The publisher cannot be reached: `PublisherUnavailableError`. */
  | 'PUBLISHER_UNAVAILABLE'
  /** A call after `shutdown()`: `CoordinatorClosedError`. */
  | 'COORDINATOR_CLOSED'
  /** A module-level call (`publishEvent`, …) before `getCoordinator(options)`. */
  | 'COORDINATOR_NOT_CONFIGURED'
  /** A handler ran past its timeout: `HandlerTimeoutError`, recorded on the delivery. */
  | 'HANDLER_TIMEOUT'
  /** A delivery's lease expired again and again (the process running it died each time). */
  | 'HANDLER_CRASHED'
  /** `waitForIdle({ timeoutMs })` ran out while handlers still had work. */
  | 'TIMEOUT'
  /** A `beforePublish` middleware vetoed the publish on purpose: `MiddlewareRejectedError`. */
  | 'MIDDLEWARE_REJECTED';

export interface EvcoErrorOptions {
  cause?: unknown;
  /** The package that raised it, shown as `[evco:<pkg>]` at the start of the message. */
  source?: string | undefined;
  /**
   * Context for operators that must not reach a service's clients (a file path, a host):
   * kept out of the message, logged by the loggers, left out of `toJSON()`.
   */
  details?: Readonly<Record<string, unknown>> | undefined;
}

export class EvcoError extends Error {
  readonly code: EvcoErrorCode;
  readonly source: string;
  /** Operator-only context (see `EvcoErrorOptions.details`); never part of the message. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  declare readonly [BRAND]: true;

  constructor(code: EvcoErrorCode, message: string, options: EvcoErrorOptions = {}) {
    const source = options.source ?? 'core';
    super(`[evco:${source}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.source = source;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

export function isEvcoError(value: unknown, code?: EvcoErrorCode): value is EvcoError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as { [BRAND]?: unknown })[BRAND] !== true) return false;
  return code === undefined || (value as EvcoError).code === code;
}

/** One problem with one field; `path` is dotted (`eventData.user.email`). */
export interface ValidationIssue {
  path: string;
  message: string;
}

export class EventValidationError extends EvcoError {
  readonly issues: readonly ValidationIssue[];

  constructor(
    issues: readonly ValidationIssue[],
    options: EvcoErrorOptions & { subject?: string | undefined } = {},
  ) {
    const list = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    super('EVENT_VALIDATION', `invalid ${options.subject ?? 'event'}: ${list}`, options);
    this.issues = issues;
  }
}

export class InvalidOptionsError extends EvcoError {
  readonly issues: readonly ValidationIssue[];

  constructor(subject: string, issues: readonly ValidationIssue[], options: EvcoErrorOptions = {}) {
    const list = issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ');
    super('INVALID_OPTIONS', `invalid ${subject}: ${list}`, options);
    this.issues = issues;
  }
}

export class ConcurrencyError extends EvcoError {
  readonly aggregateId: string | undefined;
  readonly aggregateVersion: number | undefined;

  constructor(
    message: string,
    details: { aggregateId?: string | undefined; aggregateVersion?: number | undefined } = {},
    options: EvcoErrorOptions = {},
  ) {
    super('CONCURRENCY', message, options);
    this.aggregateId = details.aggregateId;
    this.aggregateVersion = details.aggregateVersion;
  }
}

export class DuplicateEventError extends EvcoError {
  readonly eventId: string | undefined;

  constructor(message: string, eventId?: string, options: EvcoErrorOptions = {}) {
    super('DUPLICATE_EVENT', message, options);
    this.eventId = eventId;
  }
}

/**
 * A handler name is already taken in this process. Deliveries are tracked by name, so two
 * handlers under one name would silently share (and split) one stream of deliveries.
 */
export class DuplicateHandlerError extends EvcoError {
  readonly handlerName: string;

  constructor(
    handlerName: string,
    eventType: string,
    options: EvcoErrorOptions & {
      reason?: 'same-type' | 'other-function' | 'separate-call' | undefined;
    } = {},
  ) {
    const { reason = 'same-type', ...rest } = options;
    const detail =
      reason === 'other-function'
        ? `a different handler is already registered as "${handlerName}" (for "${eventType}"): two functions that share a name (both \`h\`, or minified code) must each get a unique { name }`
        : reason === 'separate-call'
          ? `"${handlerName}" is already registered for "${eventType}"; to subscribe one handler to several event types, pass them in one call: registerHandler(['${eventType}', 'Other'], handler, { name })`
          : `a handler named "${handlerName}" is already registered for "${eventType}"; pass a unique { name }`;
    super('DUPLICATE_HANDLER', detail, rest);
    this.handlerName = handlerName;
  }
}

export class StoreUnavailableError extends EvcoError {
  constructor(message: string, options: EvcoErrorOptions = {}) {
    super('STORE_UNAVAILABLE', message, options);
  }
}

export class StoreSchemaError extends EvcoError {
  constructor(message: string, options: EvcoErrorOptions = {}) {
    super('STORE_SCHEMA', message, options);
  }
}

export class PublisherUnavailableError extends EvcoError {
  constructor(message: string, options: EvcoErrorOptions = {}) {
    super('PUBLISHER_UNAVAILABLE', message, options);
  }
}

/**
 * A transaction handle given to `publishInTransaction` is not one the store can write in: the
 * wrong kind of object (a pool instead of the client that ran BEGIN), no open transaction, an
 * aborted one, or another database than the store's. Raised before anything is written.
 */
export class InvalidTransactionError extends EvcoError {
  constructor(message: string, options: EvcoErrorOptions = {}) {
    super('INVALID_TRANSACTION', message, options);
  }
}

export class CoordinatorClosedError extends EvcoError {
  constructor(operation: string, options: EvcoErrorOptions = {}) {
    super('COORDINATOR_CLOSED', `cannot ${operation}: the coordinator has been shut down`, options);
  }
}

/**
 * Something named by id does not exist (an event, a replay). The admin API itself returns
 * `undefined` for an unknown id; this is what an HTTP route or a CLI command turns that into.
 */
export class NotFoundError extends EvcoError {
  readonly kind: string;
  readonly id: string;

  constructor(kind: string, id: string, options: EvcoErrorOptions = {}) {
    super('NOT_FOUND', `no ${kind} with id "${id.slice(0, 200)}"`, options);
    this.kind = kind;
    this.id = id;
  }
}

/**
 * Thrown by a `beforePublish` middleware to veto a publish on purpose (a policy said no), as
 * opposed to failing: the whole batch is rejected and nothing is stored, as with any throw,
 * but callers can tell a refusal (`MIDDLEWARE_REJECTED`, an HTTP 422 in @evco/fastify) from a
 * bug in the middleware (anything else, a 500).
 */
export class MiddlewareRejectedError extends EvcoError {
  /** The vetoing middleware's `name`, when it gave one. */
  readonly middleware: string | undefined;

  constructor(message: string, options: EvcoErrorOptions & { middleware?: string | undefined } = {}) {
    const { middleware, ...rest } = options;
    super('MIDDLEWARE_REJECTED', middleware === undefined ? message : `${middleware}: ${message}`, rest);
    this.middleware = middleware;
  }
}

export class HandlerTimeoutError extends EvcoError {
  constructor(handlerName: string, timeoutMs: number, options: EvcoErrorOptions = {}) {
    super('HANDLER_TIMEOUT', `handler "${handlerName}" did not finish within ${timeoutMs} ms`, options);
  }
}
