import { describe, expect, it } from 'vitest';
import { clockOffsetFrom } from '../../dashboard/src/clock.js';

describe('clockOffsetFrom', () => {
  const sentAt = Date.parse('2026-11-28T09:00:00.000Z');

  it("measures a browser minutes off from the reply's Date header", () => {
    // The server says 09:10:00 while this machine thinks it is 09:00:00.1: ten minutes behind.
    expect(clockOffsetFrom('Sat, 28 Nov 2026 09:10:00 GMT', sentAt, sentAt + 200)).toBe(600_400);
    expect(clockOffsetFrom('Sat, 28 Nov 2026 08:55:00 GMT', sentAt, sentAt + 200)).toBe(-299_600);
  });

  it("keeps the browser's clock within the header's one-second rounding, and without a header", () => {
    expect(clockOffsetFrom('Sat, 28 Nov 2026 09:00:01 GMT', sentAt, sentAt + 200)).toBe(0);
    expect(clockOffsetFrom('Sat, 28 Nov 2026 08:59:59 GMT', sentAt, sentAt + 200)).toBe(0);
    expect(clockOffsetFrom(null, sentAt, sentAt)).toBeUndefined();
    expect(clockOffsetFrom('not a date', sentAt, sentAt)).toBeUndefined();
  });
});
