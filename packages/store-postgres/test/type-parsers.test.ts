import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { STORE_TYPES, TIMESTAMPTZ } from '../src/type-parsers.js';

/** What Postgres prints for timestamptz with DateStyle ISO, in any session time zone. */
const TEXTS = [
  '2026-11-28 20:52:27.123+00',
  '2026-11-28 20:52:27+00',
  '2026-11-28 20:52:27.1+00',
  '2026-11-28 20:52:27.123456+00',
  '2026-11-28 20:52:27.999999+00',
  '2026-11-29 02:37:27.123+05:45',
  '2026-11-28 17:22:27.5-03:30',
  '1883-11-18 12:00:00+00:03:58',
  '1969-12-31 23:59:59.999-03',
  '1970-01-01 00:00:00+00',
  '0099-01-01 00:00:00+00',
  '0001-01-01 00:00:00+00 BC',
  '4713-11-24 00:00:00+00 BC',
  '275760-09-13 00:00:00+00',
  'infinity',
  '-infinity',
];

const asNumber = (v: unknown) => (v instanceof Date ? v.getTime() : v);

describe('the store pool’s type parsers', () => {
  it('read timestamptz to the same instant as the parser pg bundles, for every shape Postgres prints', () => {
    const ours = STORE_TYPES.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => unknown;
    const pgs = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => unknown;
    expect(ours).not.toBe(pgs);
    for (const text of TEXTS) {
      const got = ours(text);
      expect(typeof got, text).toBe(typeof pgs(text));
      expect(asNumber(got), text).toBe(asNumber(pgs(text)));
    }
  });

  it('leave every other type to pg.types, including what the application set there', () => {
    for (const oid of [20, 23, 25, 114, 3802, 1082, 1114]) {
      expect(STORE_TYPES.getTypeParser(oid, 'text')).toBe(pg.types.getTypeParser(oid, 'text'));
    }
    const jsonb = pg.types.getTypeParser(3802, 'text');
    const custom = (text: string) => ({ raw: text });
    pg.types.setTypeParser(3802, custom);
    try {
      expect(STORE_TYPES.getTypeParser(3802, 'text')).toBe(custom);
    } finally {
      pg.types.setTypeParser(3802, jsonb);
    }
  });
});
