import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './http-errors.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

const BEARER = /^Bearer +(\S+) *$/i;

/**
 * The admin guard: `Authorization: Bearer <EVCO_ADMIN_TOKEN>`. Both sides are hashed first so
 * `timingSafeEqual` compares equal-length buffers and the time taken says nothing about the
 * token, not even its length. Without a configured token the admin routes are off.
 */
export function createAdminGuard(token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return async (request: FastifyRequest): Promise<void> => {
    if (!expected) {
      throw new ApiError(
        404,
        'ADMIN_DISABLED',
        'admin routes are off: start the service with EVCO_ADMIN_TOKEN set (at least 16 characters) to turn them on',
      );
    }
    const match = BEARER.exec(request.headers.authorization ?? '');
    if (!match) {
      throw new ApiError(
        401,
        'UNAUTHORIZED',
        'admin routes need the header Authorization: Bearer <EVCO_ADMIN_TOKEN>',
        {
          headers: { 'www-authenticate': 'Bearer realm="evco-admin"' },
        },
      );
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      throw new ApiError(401, 'INVALID_TOKEN', 'the admin token is not valid', {
        headers: { 'www-authenticate': 'Bearer realm="evco-admin", error="invalid_token"' },
      });
    }
  };
}
