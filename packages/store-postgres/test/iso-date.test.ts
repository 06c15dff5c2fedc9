import { describe, expect, it } from 'vitest';
import { isoDate } from '../src/iso-date.js';

describe('isoDate', () => {
  it('prints what toISOString prints at the edges of the fast range and of months, years, centuries', () => {
    const instants = [
      -62_167_219_200_000, // 0000-01-01T00:00:00.000Z
      -62_167_219_200_001, // the last instant of year -1: toISOString's own form
      253_402_300_799_999, // 9999-12-31T23:59:59.999Z
      253_402_300_800_000, // +010000-01-01: toISOString's own form
      0,
      -1,
      951_782_400_000, // 2000-02-29
      951_868_799_999,
      4_107_542_399_999, // 2100-02-28T23:59:59.999Z (2100 is not a leap year)
      -2_203_891_200_001, // 1900-02-28T23:59:59.999Z
      -59_011_459_200_000, // 0100-01-01
      -61_851_600_000_000, // 0010-01-01
      8_640_000_000_000_000, // the largest Date
      -8_640_000_000_000_000,
    ];
    for (const t of instants) expect(isoDate(new Date(t)), String(t)).toBe(new Date(t).toISOString());
  });

  it('prints what toISOString prints for every millisecond of a leap day boundary and for random instants', () => {
    let seed = 17;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    const mismatches: number[] = [];
    for (let t = 951_868_799_000; t < 951_868_801_000; t++) {
      if (isoDate(new Date(t)) !== new Date(t).toISOString()) mismatches.push(t);
    }
    for (let i = 0; i < 200_000; i++) {
      const t = Math.floor((random() * 2 - 1) * 3e14);
      if (isoDate(new Date(t)) !== new Date(t).toISOString()) mismatches.push(t);
    }
    expect(mismatches).toEqual([]);
  });

  it('throws as toISOString does for an invalid date', () => {
    expect(() => isoDate(new Date(Number.NaN))).toThrow(RangeError);
  });
});
