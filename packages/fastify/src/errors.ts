/**
 * Every error reply has one shape, `{ error: { code, message, issues? } }`, whatever raised it:
 * a zod schema, Fastify's body parser, evco, or a bug. Stack traces, connection strings and
 * server file paths never reach a client; unexpected errors are logged with their stack and
 * answered with the request id to look them up.
 */
import { type EvcoErrorCode, isEvcoError, maskSecrets, type ValidationIssue } from '@evco/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    issues?: ValidationIssue[] | undefined;
    /** With `UNKNOWN_EVENT_TYPE`: what the service accepts. */
    knownTypes?: string[] | undefined;
    /** With 5xx: the id to find the failure in the service log. */
    requestId?: string | undefined;
  };
}

/** An error a route raises on purpose, with its HTTP status. */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly issues: ValidationIssue[] | undefined;
  readonly knownTypes: string[] | undefined;
  readonly headers: Record<string, string>;
  /** What the log gets instead of `message` (which the client gets), when they differ. */
  readonly logMessage: string | undefined;

  constructor(
    statusCode: number,
    code: string,
    message: string,
    extra: {
      issues?: ValidationIssue[] | undefined;
      knownTypes?: string[] | undefined;
      headers?: Record<string, string> | undefined;
      logMessage?: string | undefined;
    } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.code = code;
    this.issues = extra.issues;
    this.knownTypes = extra.knownTypes;
    this.headers = extra.headers ?? {};
    this.logMessage = extra.logMessage;
  }
}

/**
 * evco's stable codes → HTTP; the union is closed, so a new code cannot be left out. A 500 is a
 * bug or a fault the client cannot fix: answered with a request id, its message kept in the log.
 */
const EVCO_STATUS: Record<EvcoErrorCode, number> = {
  EVENT_VALIDATION: 400,
  INVALID_OPTIONS: 400,
  INVALID_POSITION: 400,
  UNKNOWN_HANDLER: 400,
  NOT_FOUND: 404,
  MIDDLEWARE_REJECTED: 422,
  CONCURRENCY: 409,
  DUPLICATE_EVENT: 409,
  DUPLICATE_HANDLER: 409,
  STORE_UNAVAILABLE: 503,
  PUBLISHER_UNAVAILABLE: 503,
  COORDINATOR_CLOSED: 503,
  COORDINATOR_NOT_CONFIGURED: 503,
  HANDLER_TIMEOUT: 504,
  TIMEOUT: 504,
  STORE_SCHEMA: 500,
  STORE_FAILED: 500,
  TRANSACTION_POOLER: 500,
  HANDLER_CRASHED: 500,
  INVALID_TRANSACTION: 500,
  UNSUPPORTED: 500,
};

export function evcoStatus(code: string): number {
  return Object.hasOwn(EVCO_STATUS, code) ? EVCO_STATUS[code as EvcoErrorCode] : 500;
}

interface Resolved {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** Unexpected: log with the stack at error level. */
  unexpected: boolean;
}

/** `/events/0/eventType` → `events.0.eventType`; unknown keys are reported under their own path. */
function zodValidationIssues(error: FastifyError): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const v of error.validation ?? []) {
    const base = v.instancePath.split('/').filter(Boolean).join('.');
    const keys = (v.params as { keys?: unknown }).keys;
    if (v.keyword === 'unrecognized_keys' && Array.isArray(keys)) {
      for (const key of keys)
        out.push({ path: base ? `${base}.${key}` : String(key), message: 'unknown field' });
    } else {
      out.push({ path: base, message: v.message ?? 'invalid' });
    }
  }
  return out;
}

const WHERE: Record<string, string> = {
  body: 'request body',
  querystring: 'query string',
  params: 'path',
  headers: 'headers',
};

export function summarize(issues: readonly ValidationIssue[], max = 5): string {
  const shown = issues.slice(0, max).map((i) => `${i.path || '(root)'}: ${i.message}`);
  if (issues.length > max) shown.push(`and ${issues.length - max} more`);
  return shown.join('; ');
}

/**
 * Absolute file paths (`/var/lib/app/events.db`, `C:\\data\\events.db`) as they appear in store
 * errors: a client has no use for them and they map the server's disk. URLs are left alone
 * (their `//` follows a scheme's colon), and so are our own route paths (raised as `ApiError`,
 * never scrubbed).
 */
const FILE_PATH = /(^|[\s("'=])(?:\/[\w.@~+-]+){2,}\/?|(^|[\s("'=])[A-Za-z]:\\[^\s"')]+/g;

/**
 * Where a service's backing services live, as driver and store errors quote them: connection URLs
 * (`postgresql://app@db.internal:5432/app`, password masked or not), and the address or host
 * after a socket error code (`connect ECONNREFUSED 10.0.0.5:5432`, `getaddrinfo ENOTFOUND
 * db.internal`). The status route shows locations to authorized requests only; error replies,
 * which any client may get (the readiness probe is public), keep the error and drop the place.
 */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'()<>]+/gi;
const SOCKET_PEER =
  /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENOTFOUND|EAI_AGAIN)(\s+)(?!<)[^\s,;)]+/g;

/**
 * What an evco error may say to a client: no credentials, no server paths, no locations of the
 * database or Redis (URLs become `<url>`, a socket error's peer `<address>`).
 */
export function publicMessage(message: string): string {
  return maskSecrets(message)
    .replace(URL_IN_TEXT, '<url>')
    .replace(SOCKET_PEER, '$1$2<address>')
    .replace(FILE_PATH, (_match, a: string | undefined, b: string | undefined) => {
      return `${a ?? b ?? ''}<path>`;
    });
}

/** Turns anything thrown in a request into the reply to send. */
export function resolveError(error: unknown, requestId: string, bodyLimitBytes: number): Resolved {
  const reply = (
    status: number,
    code: string,
    message: string,
    extra: Partial<ErrorBody['error']> = {},
    headers: Record<string, string> = {},
  ): Resolved => ({
    status,
    body: { error: { code, message: maskSecrets(message), ...extra } },
    headers,
    unexpected: false,
  });

  if (error instanceof ApiError) {
    const extra: Partial<ErrorBody['error']> = {};
    if (error.issues) extra.issues = error.issues;
    if (error.knownTypes) extra.knownTypes = error.knownTypes;
    return reply(error.statusCode, error.code, error.message, extra, error.headers);
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = zodValidationIssues(error);
    const where = WHERE[error.validationContext ?? 'body'] ?? 'request';
    return reply(400, 'INVALID_REQUEST', `invalid ${where}: ${summarize(issues)}`, { issues });
  }
  if (isEvcoError(error)) {
    const status = evcoStatus(error.code);
    if (status >= 500 && status !== 503 && status !== 504) {
      return { ...unexpectedError(requestId), unexpected: true };
    }
    const issues = (error as { issues?: ValidationIssue[] | undefined }).issues;
    return reply(
      status,
      error.code,
      publicMessage(error.message),
      issues ? { issues: [...issues] } : {},
      status === 503 ? { 'retry-after': '5' } : {},
    );
  }
  const fastify = error as Partial<FastifyError>;
  switch (fastify.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return reply(
        413,
        'PAYLOAD_TOO_LARGE',
        `the request body is larger than ${bodyLimitBytes} bytes; send fewer events per request`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return reply(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'send the body as JSON with content-type: application/json',
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return reply(400, 'INVALID_JSON', 'the body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return reply(400, 'INVALID_JSON', 'the body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return reply(400, 'BAD_REQUEST', 'the content-length header does not match the body');
    default:
      break;
  }
  const status = fastify.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client errors (bad headers, aborted bodies): their messages hold no secrets.
    return reply(status, 'BAD_REQUEST', fastify.message ?? 'bad request');
  }
  return { ...unexpectedError(requestId), unexpected: true };
}

function unexpectedError(requestId: string): Omit<Resolved, 'unexpected'> {
  return {
    status: 500,
    body: {
      error: {
        code: 'INTERNAL',
        message: 'the service failed to handle the request; its log has the details under this request id',
        requestId,
      },
    },
    headers: {},
  };
}

/**
 * Fastify error handler: logs, then sends the one error shape. The plugin sets it on its own
 * routes; an app can set it on its own too (`app.setErrorHandler(evcoErrorHandler())`).
 */
export function evcoErrorHandler() {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const resolved = resolveError(
      error,
      String(request.id),
      request.routeOptions.bodyLimit ?? request.server.initialConfig.bodyLimit ?? 1_048_576,
    );
    if (resolved.unexpected) request.log.error({ err: error }, 'request failed');
    else if (resolved.status >= 500)
      // The log is the operator's: it keeps the location the reply leaves out (never a password).
      request.log.warn(
        { code: resolved.body.error.code },
        isEvcoError(error)
          ? maskSecrets(error.message)
          : error instanceof ApiError && error.logMessage !== undefined
            ? error.logMessage
            : resolved.body.error.message,
      );
    else {
      request.log.info(
        { method: request.method, url: request.url, status: resolved.status, code: resolved.body.error.code },
        'request rejected',
      );
    }
    return reply.code(resolved.status).headers(resolved.headers).type('application/json').send(resolved.body);
  };
}

/** 404 in the one error shape, for `app.setNotFoundHandler`. */
export function evcoNotFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  const path = request.url.split('?')[0] ?? request.url;
  const body: ErrorBody = {
    error: {
      code: 'NOT_FOUND',
      // The path as the client sent it, cut short: it is theirs, but need not be echoed in full.
      message: `no route ${request.method} ${path.slice(0, 200)}`,
    },
  };
  return reply.code(404).type('application/json').send(body);
}
