import { UsageError } from './errors.js';

const RELATIVE = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A time flag: an ISO-8601 date-time (with a timezone, or a bare date taken as UTC), `now`, or
 * an age such as `15m`, `2h`, `7d` (that long before now).
 */
export function parseTime(value: string, flag: string, now = new Date()): Date {
  const v = value.trim();
  if (v === 'now') return now;
  const relative = RELATIVE.exec(v);
  if (relative) {
    return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
  }
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
