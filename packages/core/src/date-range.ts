import { z } from 'zod';

/**
 * Dates evco stores: years 1 to 9999, UTC. Every store keeps dates as ISO-8601 text or
 * timestamps built from it, and outside this range `toISOString()` switches to six-digit signed
 * years (`+010000-…`) that Postgres refuses and that no longer sort as text in SQLite. Checking
 * in core gives every store the same answer, before any I/O.
 */
export const MIN_STORABLE_TIME = Date.parse('0001-01-01T00:00:00.000Z');
export const MAX_STORABLE_TIME = Date.parse('9999-12-31T23:59:59.999Z');

export const DATE_RANGE_MESSAGE = 'must be between 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z';

/** A valid `Date` within the storable range. */
export function isStorableDate(value: Date): boolean {
  const time = value.getTime();
  return time >= MIN_STORABLE_TIME && time <= MAX_STORABLE_TIME;
}

/** A `Date` or an ISO-8601 date-time with a timezone, within the storable range. */
export const storableDateInput = z
  .union([
    z.date(),
    z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time with a timezone' }),
  ])
  .refine((value) => isStorableDate(new Date(value)), { message: DATE_RANGE_MESSAGE });
