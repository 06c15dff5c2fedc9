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
