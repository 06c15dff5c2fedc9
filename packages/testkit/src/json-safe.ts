import { expect } from 'vitest';

/**
 * Asserts that `value` survives `JSON.stringify` exactly: every leaf is a string, a finite
 * number, a boolean, null or a Date (which becomes its ISO string), and parsing the JSON back
 * gives the same data. Names the path of the first value JSON would lose or refuse (a bigint,
 * a function, `undefined` in an array, a Map, NaN, …).
 */
export function expectJsonSafe(value: unknown, label = 'value'): void {
  const problems: string[] = [];
  const expected = normalize(value, label, problems, new Set());
  expect(problems, `${label} is not JSON-safe`).toEqual([]);
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new Error(`${label}: JSON.stringify threw ${(error as Error).message}`);
  }
  expect(JSON.parse(json), `${label} after a JSON round trip`).toEqual(expected);
}

/** What JSON.parse(JSON.stringify(value)) must give, computed without JSON; records losses. */
function normalize(value: unknown, path: string, problems: string[], seen: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) problems.push(`${path}: ${value} becomes null`);
      return value;
    case 'object': {
      if (value === null) return null;
      if (value instanceof Date) return value.toISOString();
      if (seen.has(value)) {
        problems.push(`${path}: a cycle`);
        return undefined;
      }
      seen.add(value);
      try {
        if (Array.isArray(value)) {
          return value.map((v, i) => {
            if (v === undefined) problems.push(`${path}[${i}]: undefined becomes null`);
            return normalize(v, `${path}[${i}]`, problems, seen);
          });
        }
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          problems.push(`${path}: a ${proto?.constructor?.name ?? 'non-plain'} object`);
          return undefined;
        }
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) {
          if (v === undefined) continue;
          out[k] = normalize(v, `${path}.${k}`, problems, seen);
        }
        return out;
      } finally {
        seen.delete(value);
      }
    }
    default:
      problems.push(`${path}: a ${typeof value}`);
      return undefined;
  }
}
