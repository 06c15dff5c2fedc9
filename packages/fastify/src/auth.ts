/**
 * Who may use the protected routes. The plugin takes any `(request) => boolean` check; this
 * module ships the common one, a bearer token compared in constant time, and the guard that
 * turns a refusal into the API's error shape.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidOptionsError } from '@evco/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import type { AuthCheck } from './options.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

const BEARER = /^Bearer +(\S+) *$/i;

/**
 * `auth` for `Authorization: Bearer <token>`. Both sides are hashed first so `timingSafeEqual`
 * compares equal-length buffers and the time taken says nothing about the token, not even its
 * length.
 */
export function bearerToken(token: string): AuthCheck {
  if (typeof token !== 'string' || token.length < 16 || !/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidOptionsError(
      'bearer token',
      [{ path: 'token', message: 'must be at least 16 printable ASCII characters without spaces' }],
      { source: 'fastify' },
    );
  }
  const expected = digest(token);
  return (request: FastifyRequest) => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    return match !== null && timingSafeEqual(digest(match[1]!), expected);
  };
}

/** Whether `auth` accepts the request; a check that throws counts as a refusal (and is logged). */
export async function isAuthorized(auth: AuthCheck | undefined, request: FastifyRequest): Promise<boolean> {
  if (!auth) return false;
  try {
    return (await auth(request)) === true;
  } catch (error) {
    request.log.warn({ err: error }, 'the evco auth check failed; treating the request as unauthorized');
    return false;
  }
}

/** An `onRequest` hook: runs before the body is read, so an unauthorized request costs nothing. */
export function createAuthGuard(auth: AuthCheck | undefined, hint: string | undefined) {
  const suffix = hint ? ` (${hint})` : '';
  return async (request: FastifyRequest): Promise<void> => {
    if (!auth) {
      throw new ApiError(404, 'ADMIN_DISABLED', `admin routes are off: no auth check is configured${suffix}`);
    }
    if (!(await isAuthorized(auth, request))) {
      throw new ApiError(401, 'UNAUTHORIZED', `this route needs an authorized request${suffix}`, {
        headers: { 'www-authenticate': 'Bearer realm="evco"' },
      });
    }
  };
}
