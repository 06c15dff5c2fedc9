import { EvcoError, type EvcoErrorOptions } from './errors.js';

/**
 * A position in the global event order, as a canonical decimal string (`"42"`: no sign, no
 * leading zeros). Strings because positions outgrow JSON numbers: Postgres positions pass
 * 2^53, and a `bigint` makes `JSON.stringify` throw. The same string is a page cursor.
 * Compare positions with `comparePositions`, never with `<` on strings (`"9" > "10"`).
 */
export type Position = string;

/** The largest position any store hands out (Postgres `bigint`). */
export const MAX_POSITION = 9_223_372_036_854_775_807n;

const DIGITS = /^\d{1,20}$/;

/**
 * Parses a position or cursor given by a caller: a decimal string of digits up to 2^63 - 1
 * (leading zeros tolerated). Throws `INVALID_POSITION` before any I/O otherwise. Stores use it
 * at their boundary; the result is the exact integer, for SQL parameters and comparisons.
 */
export function parsePosition(value: unknown, field = 'position', options?: EvcoErrorOptions): bigint {
  if (typeof value === 'string' && DIGITS.test(value)) {
    const n = BigInt(value);
    if (n <= MAX_POSITION) return n;
  }
  throw new EvcoError(
    'INVALID_POSITION',
    `${field} must be a decimal string of digits between "0" and "${MAX_POSITION}", got ${describe(value)}`,
    options,
  );
}

/** True for a string `parsePosition` accepts. */
export function isPosition(value: unknown): value is Position {
  return typeof value === 'string' && DIGITS.test(value) && BigInt(value) <= MAX_POSITION;
}

/** The canonical string of a position a store computed (a bigint, a safe integer or a driver's string). */
export function formatPosition(value: bigint | number | string): Position {
  if (typeof value === 'string') return BigInt(value).toString();
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`position ${value} is not a safe integer`);
  }
  return value.toString();
}

/** Numeric order of two positions: negative, zero or positive like a sort comparator. */
export function comparePositions(a: Position, b: Position): number {
  // Canonical strings: the longer is the greater; equal lengths compare digit by digit.
  // Leading zeros (accepted from callers) would break that, so those go through BigInt.
  if (a.length !== b.length && a[0] !== '0' && b[0] !== '0') return a.length - b.length;
  if (a.length === b.length) return a < b ? -1 : a > b ? 1 : 0;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `the bigint ${value} (pass it as a string)`;
  return typeof value === 'number' ? `the number ${value} (pass it as a string)` : typeof value;
}
