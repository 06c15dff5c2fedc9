import { UsageError } from './errors.js';

const AMOUNT = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `15m`, `2h`, `7d`, `500ms` in milliseconds; undefined for anything else. */
function amountMs(value: string): number | undefined {
  const amount = AMOUNT.exec(value);
  return amount ? Number(amount[1]) * UNIT_MS[amount[2] as keyof typeof UNIT_MS] : undefined;
}

/**
 * A time flag: an ISO-8601 date-time (with a timezone, or a bare date taken as UTC), `now`, or
 * an age such as `15m`, `2h`, `7d` (that long before now).
 */
export function parseTime(value: string, flag: string, now = new Date()): Date {
  const v = value.trim();
  if (v === 'now') return now;
  const age = amountMs(v);
  if (age !== undefined) return new Date(now.getTime() - age);
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v;
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(iso);
  const date = new Date(iso);
  if (!hasZone || !/^\d{4}-\d{2}-\d{2}T/.test(iso) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `${flag} must be an ISO-8601 date-time with a timezone (2026-01-31T12:00:00Z), a date, "now" or an age like 2h, got "${v.slice(0, 50)}"`,
    );
  }
  return date;
}

/**
 * A duration flag, in the units of the ages above (`30s`, `10m`, `2h`, `1d`, and `500ms`), in
 * milliseconds. A bare number is refused: `--archive-timeout 30` could mean seconds or ms. The
 * range is the caller's (core's option check), so it is stated once.
 */
export function parseDuration(value: string, flag: string): number {
  const ms = amountMs(value.trim());
  if (ms === undefined || !Number.isSafeInteger(ms)) {
    throw new UsageError(
      `${flag} must be a duration with a unit: 500ms, 30s, 10m, 2h or 1d, got "${value.trim().slice(0, 50)}"`,
    );
  }
  return ms;
}

/**
 * A poll period flag (`--interval` of `tail` and `replay`), in milliseconds: a whole number in
 * core's `pollIntervalMs` range (5 to 3600000). 0, a negative number or one yargs could not
 * read (NaN) would poll the store in a tight loop (a timer of 0 or NaN fires after 1 ms).
 */
export function checkInterval(value: number, flag: string): number {
  if (!Number.isInteger(value) || value < 5 || value > 3_600_000) {
    throw new UsageError(
      `${flag} must be a whole number of milliseconds from 5 to 3600000, got ${shown(value)}`,
    );
  }
  return value;
}

/** A count flag such as `tail --limit`: a whole number, at least 1. */
export function checkCount(value: number, flag: string, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${flag} must be a whole number of ${what}, at least 1, got ${shown(value)}`);
  }
  return value;
}

/** A number flag's value as typed; yargs turns what is not a number into NaN, losing the text. */
function shown(value: number): string {
  return Number.isNaN(value) ? 'something that is not a number' : String(value);
}
