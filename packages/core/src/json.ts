import type { ValidationIssue } from './errors.js';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

/** Keys that would let a payload reach an object's prototype once parsed or merged elsewhere. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper than this is almost certainly a bug (or an attack on a recursive reader). */
export const MAX_JSON_DEPTH = 64;

export interface FreezeJsonResult {
  value: JsonObject;
  /** Serialized UTF-8 size in bytes; computed exactly only when the cheap bound is near the limit. */
  bytes: number;
}

/**
 * Walks a payload once: rejects what JSON cannot carry faithfully (BigInt, functions, symbols,
 * cycles, NaN/Infinity, `undefined` in arrays, class instances, strings Postgres `jsonb` refuses),
 * rejects prototype-polluting keys at any depth, converts `Date` to its ISO string (as
 * `JSON.stringify` would), drops `undefined` object members, and returns a deep-frozen copy —
 * so the caller's object is never frozen under their feet and the stored event can never change.
 */
export function freezeJsonObject(
  input: unknown,
  path: string,
  maxBytes: number,
  issues: ValidationIssue[],
): FreezeJsonResult | undefined {
  if (!isPlainObject(input)) {
    issues.push({ path, message: `must be a plain JSON object, got ${describeType(input)}` });
    return undefined;
  }
  const before = issues.length;
  const state: WalkState = { bound: 0, ancestors: [] };
  const value = walk(input, path, 0, state, issues) as JsonObject;
  if (issues.length > before) return undefined;
  // Each UTF-16 unit serializes to at most 6 bytes (`\u001f`), so small payloads skip the exact check.
  let bytes = state.bound;
  if (state.bound > maxBytes) {
    bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
    if (bytes > maxBytes) {
      issues.push({ path, message: `serialized size ${bytes} bytes exceeds the limit of ${maxBytes} bytes` });
      return undefined;
    }
  }
  return { value, bytes };
}

interface WalkState {
  bound: number;
  /** The path from the root: a cycle is a reference back into it (shared siblings are fine). */
  ancestors: object[];
}

function walk(
  value: unknown,
  path: string,
  depth: number,
  state: WalkState,
  issues: ValidationIssue[],
): unknown {
  switch (typeof value) {
    case 'string':
      state.bound += value.length * 6 + 2;
      checkString(value, path, issues);
      return value;
    case 'number':
      state.bound += 24;
      if (!Number.isFinite(value)) issues.push({ path, message: `${value} is not representable in JSON` });
      return value;
    case 'boolean':
      state.bound += 5;
      return value;
    case 'bigint':
      issues.push({ path, message: 'BigInt is not representable in JSON (send it as a string)' });
      return undefined;
    case 'function':
      issues.push({ path, message: 'functions are not representable in JSON' });
      return undefined;
    case 'symbol':
      issues.push({ path, message: 'symbols are not representable in JSON' });
      return undefined;
    case 'undefined':
      issues.push({ path, message: 'undefined is not representable in JSON (use null)' });
      return undefined;
  }
  if (value === null) {
    state.bound += 4;
    return null;
  }
  const obj = value as object;
  if (obj instanceof Date) {
    if (Number.isNaN(obj.getTime())) {
      issues.push({ path, message: 'invalid Date' });
      return undefined;
    }
    state.bound += 26;
    return obj.toISOString();
  }
  if (depth >= MAX_JSON_DEPTH) {
    issues.push({ path, message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
    return undefined;
  }
  if (state.ancestors.includes(obj)) {
    issues.push({ path, message: 'circular reference' });
    return undefined;
  }
  state.ancestors.push(obj);
  let out: unknown;
  if (Array.isArray(obj)) {
    const arr: unknown[] = new Array(obj.length);
    state.bound += 2 + obj.length;
    for (let i = 0; i < obj.length; i++) {
      arr[i] = walk(obj[i], `${path}[${i}]`, depth + 1, state, issues);
    }
    out = Object.freeze(arr);
  } else if (isPlainObject(obj)) {
    const copy: Record<string, unknown> = {};
    state.bound += 2;
    for (const key of Object.keys(obj)) {
      const child = (obj as Record<string, unknown>)[key];
      if (child === undefined) continue;
      const childPath = `${path}.${key}`;
      if (FORBIDDEN_KEYS.has(key)) {
        issues.push({ path: childPath, message: `the key "${key}" is not allowed` });
        continue;
      }
      checkString(key, childPath, issues);
      state.bound += key.length * 6 + 4;
      copy[key] = walk(child, childPath, depth + 1, state, issues);
    }
    out = Object.freeze(copy);
  } else {
    issues.push({ path, message: `${describeType(obj)} is not a plain JSON value` });
  }
  state.ancestors.pop();
  return out;
}

/**
 * Freezes, in place, a value a store just parsed from its JSON column (plain objects and arrays,
 * no cycles) and returns it: events are immutable everywhere in evco, so what a store hands out is
 * frozen like what went in. Subtrees already frozen are left as they are.
 */
export function deepFreezeJson<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) {
      if (typeof child === 'object' && child !== null) deepFreezeJson(child);
    }
    Object.freeze(value);
  }
  return value;
}

/** NUL and lone surrogates survive JSON.stringify but Postgres `jsonb`/`text` reject them. */
export function checkString(value: string, path: string, issues: ValidationIssue[]): void {
  if (value.includes('\u0000')) issues.push({ path, message: 'contains a NUL character (\\u0000)' });
  else if (!(value as unknown as { isWellFormed(): boolean }).isWellFormed())
    issues.push({ path, message: 'contains a lone UTF-16 surrogate' });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? `an instance of ${name}` : 'an object';
  }
  return typeof value;
}
