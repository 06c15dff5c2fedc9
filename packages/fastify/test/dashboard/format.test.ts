import { describe, expect, it } from 'vitest';
import {
  countOf,
  formatAgo,
  formatDuration,
  formatRate,
  formatTime,
  isoToLocalInput,
  localInputToIso,
  shortId,
} from '../../dashboard/src/format.js';

describe('dashboard formatting', () => {
  it('counts take the noun in the right number (the retire message said "1 unfinished deliveries")', () => {
    expect(countOf(1, 'unfinished delivery', 'unfinished deliveries')).toBe('1 unfinished delivery');
    expect(countOf(0, 'unfinished delivery', 'unfinished deliveries')).toBe('0 unfinished deliveries');
    expect(countOf(1200, 'dead letter', 'dead letters')).toBe('1,200 dead letters');
  });

  it('durations read at a glance', () => {
    expect(formatDuration(undefined)).toBe('—');
    expect(formatDuration(12.4)).toBe('12 ms');
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDuration(3 * 3600_000 + 60_000)).toBe('3 h 1 min');
    expect(formatDuration(5 * 86400_000)).toBe('5 d');
    expect(formatDuration(86400_000 - 1)).toBe('23 h 59 min');
    expect(formatDuration(3600_000 - 1)).toBe('59 min 59 s');
  });

  it('rates keep one decimal when small', () => {
    expect(formatRate(undefined)).toBe('—');
    expect(formatRate(0)).toBe('0');
    expect(formatRate(2.25)).toBe('2.3');
    expect(formatRate(1234.6)).toBe('1,235');
  });

  it('times are UTC with milliseconds, relative times both ways', () => {
    expect(formatTime('2026-11-28T09:12:47.123Z')).toBe('2026-11-28 09:12:47.123');
    expect(formatTime(null)).toBe('—');
    const now = Date.parse('2026-11-28T09:00:10.000Z');
    expect(formatAgo('2026-11-28T09:00:07.000Z', now)).toBe('3.0 s ago');
    expect(formatAgo('2026-11-28T09:00:40.000Z', now)).toBe('in 30 s');
  });

  it('short ids keep the distinctive end', () => {
    expect(shortId('01a22179-684e-7f12-9818-dca6c3bcc316')).toBe('…c3bcc316');
    expect(shortId('short')).toBe('short');
    expect(shortId(undefined)).toBe('—');
  });

  it('datetime-local values convert to instants and back', () => {
    const d = new Date(2026, 10, 28, 9, 30);
    const local = isoToLocalInput(d);
    expect(local).toBe('2026-11-28T09:30');
    expect(localInputToIso(local)).toBe(d.toISOString());
    expect(localInputToIso('')).toBeUndefined();
    expect(localInputToIso('not a date')).toBeUndefined();
  });
});
