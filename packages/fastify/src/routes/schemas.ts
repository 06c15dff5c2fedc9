/** Query and parameter pieces shared by the route groups. */
import { NAME_PATTERN } from '@evco/core';
import { z } from 'zod';
import { errorSchema } from '../dto.js';

/** The most items one page returns. */
export const MAX_PAGE = 1000;

export const isoDateTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 date-time with a timezone',
});

export const nameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(NAME_PATTERN, 'may only contain letters, digits and _ . : -');

export const limitSchema = z.coerce
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(MAX_PAGE, `must be at most ${MAX_PAGE}`)
  .default(100);

export const cursorSchema = z.string().max(200).optional().describe('nextCursor of the previous page');

export const idParam = (name: string) =>
  z.strictObject({ [name]: z.string().min(1).max(200) }) as z.ZodObject<Record<string, z.ZodString>>;

type Security = { security: Array<Record<string, string[]>> };

/** OpenAPI: routes that need `auth`. */
export const secured: Security = { security: [{ evcoAuth: [] }] };
/** OpenAPI: routes anyone may call, said explicitly (an empty list overrides any root-level `security`). */
export const open: Security = { security: [] };
/** OpenAPI: anyone may call it; an authorized request gets more (`{}` is the anonymous alternative). */
export const optionalAuth: Security = { security: [{}, { evcoAuth: [] }] };
/** OpenAPI: `secured` when the route is guarded, else `open`. */
export const securityWhen = (guarded: boolean) => (guarded ? secured : open);

/** Error replies every route may give. */
export const readErrors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 503: errorSchema };
export const writeErrors = { ...readErrors, 409: errorSchema, 415: errorSchema };
