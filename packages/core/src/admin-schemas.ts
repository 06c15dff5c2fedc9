import { z } from 'zod';
import { MAX_ADMIN_PAGE } from './admin-page.js';
import { storableDateInput } from './date-range.js';
import { InvalidOptionsError } from './errors.js';
import { MAX_NAME_LENGTH } from './event.js';
import { isPosition, type Position } from './position.js';
import { toIssues } from './zod-issues.js';

export { parseInput } from './zod-issues.js';

/**
 * Input schemas of the read and admin calls, shared by the coordinator and the admin client so
 * both refuse the same bad input, with the same messages, before any I/O.
 */

const name = z.string().min(1).max(MAX_NAME_LENGTH);

// A custom check rather than z.string(): a bigint or number cursor (the old API) gets the same
// explanation instead of "expected string".
const positionInput = z.custom<Position>(isPosition, {
  message:
    'must be a position: a decimal string such as "42" (a result\'s `position`), not a number or bigint',
});

/** Dates within what every store can keep (years 1 to 9999). */
const dateInput = storableDateInput;

export const historySchema = z
  .strictObject({
    eventType: z.union([name, z.array(name).min(1).max(100)]).optional(),
    aggregateId: name.optional(),
    aggregateType: name.optional(),
    correlationId: name.optional(),
    causationId: name.optional(),
    from: dateInput.optional(),
    to: dateInput.optional(),
    limit: z.number().int().min(1).max(MAX_ADMIN_PAGE).optional(),
    order: z.enum(['asc', 'desc']).optional(),
    afterPosition: positionInput.optional(),
    beforePosition: positionInput.optional(),
  })
  .refine(
    // Swapped bounds (--from now --to 2h) would read as "nothing happened then".
    (q) => q.from === undefined || q.to === undefined || new Date(q.from) <= new Date(q.to),
    { path: ['to'], message: 'must not be before from (are from and to swapped?)' },
  );

export const replaySchema = z.strictObject({
  from: dateInput,
  to: dateInput,
  eventType: name.optional(),
  handler: name.optional(),
  maxEvents: z.number().int().min(1).max(1_000_000).optional(),
});

export const listSchema = z.strictObject({
  limit: z.number().int().min(1).max(MAX_ADMIN_PAGE).optional(),
  afterPosition: positionInput.optional(),
  handler: name.optional(),
});

export const retrySchema = z.strictObject({
  deliveryIds: z.array(name).max(10_000).optional(),
  handler: name.optional(),
});

/** An event id or a replay id: any non-empty string a store could have issued. */
export const idSchema = name;

/** Validates an id argument (`getEventDetails(id)`, `getReplay(id)`), reporting it under `path`. */
export function parseId(value: unknown, subject: string, path: string): string {
  const parsed = idSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidOptionsError(
      subject,
      toIssues(parsed.error).map((i) => ({ path: path + (i.path ? `.${i.path}` : ''), message: i.message })),
    );
  }
  return parsed.data;
}
