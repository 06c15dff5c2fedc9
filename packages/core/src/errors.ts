/**
 * Every error evco throws is an `EvcoError` with a stable string `code`.
 *
 * Check errors with `isEvcoError(e, 'CONCURRENCY')` rather than `instanceof`: adapters are
 * separate packages, and two copies of `@evco/core` in one `node_modules` would make
 * `instanceof` lie. The brand below survives that.
 */
const BRAND = Symbol.for('evco.error');

export type EvcoErrorCode =
  | 'EVENT_VALIDATION'
  | 'INVALID_OPTIONS'
  | 'INVALID_POSITION'
  | 'CONCURRENCY'
  | 'DUPLICATE_EVENT'
  | 'DUPLICATE_HANDLER'
  | 'UNKNOWN_HANDLER'
  | 'STORE_UNAVAILABLE'
  | 'STORE_SCHEMA'
  | 'PUBLISHER_UNAVAILABLE'
  | 'COORDINATOR_CLOSED'
  | 'COORDINATOR_NOT_CONFIGURED'
  | 'HANDLER_TIMEOUT'
  | 'MIDDLEWARE_REJECTED'
  | 'NOT_FOUND'
  | 'INVALID_TRANSACTION'
  | 'UNSUPPORTED'
  | (string & {});

export interface EvcoErrorOptions {
  cause?: unknown;
  /** The package that raised it, shown as `[evco:<pkg>]` at the start of the message. */
  source?: string;
  /**
   * Context for operators that must not reach a service's clients (a file path, a host):
   * kept out of the message, logged by the loggers, left out of `toJSON()`.
   */
  details?: Readonly<Record<string, unknown>>;
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

  constructor(issues: readonly ValidationIssue[], options: EvcoErrorOptions & { subject?: string } = {}) {
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
    details: { aggregateId?: string; aggregateVersion?: number } = {},
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
    options: EvcoErrorOptions & { reason?: 'same-type' | 'other-function' | 'separate-call' } = {},
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

export class HandlerTimeoutError extends EvcoError {
  constructor(handlerName: string, timeoutMs: number, options: EvcoErrorOptions = {}) {
    super('HANDLER_TIMEOUT', `handler "${handlerName}" did not finish within ${timeoutMs} ms`, options);
  }
}
