import { maskCutTail, maskSecrets } from './mask.js';

/** Longest description kept (dead letters, logs); longer ones end with an ellipsis. */
export const MAX_ERROR_DESCRIPTION = 4000;

/** Members and elements shown per object or array; the rest are counted, not shown. */
const MAX_MEMBERS = 20;
const MAX_DEPTH = 4;

/** What a guarded read returns when the read itself threw (a getter or a Proxy trap). */
const UNREADABLE: unique symbol = Symbol('unreadable');

/**
 * Turns anything thrown into a short, single-line description fit for a dead letter.
 *
 * It runs on evco's failure path, so it must never throw and must cost little whatever the
 * value: handlers throw objects without prototypes, cycles, getters and Proxies whose traps
 * throw, revoked proxies, symbols, 20 MB strings. Every read of the value is guarded, objects
 * are walked to a fixed depth and width (never `JSON.stringify`, which throws on cycles and
 * costs seconds on a wide object), and the output stops growing at `MAX_ERROR_DESCRIPTION`.
 */
export function describeError(error: unknown): string {
  const out = new BoundedText();
  try {
    if (isError(error)) {
      writeError(out, error);
    } else {
      out.write('non-error thrown: ');
      if (typeof error === 'string') out.write(error);
      else writePreview(out, error, MAX_DEPTH, new Set());
    }
  } catch {
    // Unreachable by design: the last line of defence of a path that must not throw.
    out.write('[undescribable value]');
  }
  return out.toString();
}

/** Appends text until the limit, then ignores the rest and marks the cut with an ellipsis. */
class BoundedText {
  #parts: string[] = [];
  #length = 0;
  #cut = false;

  get full(): boolean {
    return this.#cut;
  }

  write(text: string): void {
    if (this.#cut) return;
    const room = MAX_ERROR_DESCRIPTION - this.#length;
    if (text.length <= room) {
      this.#parts.push(withoutNul(text));
      this.#length += text.length;
      return;
    }
    this.#parts.push(withoutNul(text.slice(0, room - 1)), '…');
    this.#length = MAX_ERROR_DESCRIPTION;
    this.#cut = true;
  }

  /**
   * The text with credentials masked (`maskSecrets`: a URL's password, `password=…`): a driver's
   * error often names its connection string, and a dead letter is shown by the CLI, the dashboard
   * and the plugin's public read routes. Masked once on the whole text, so a URL written in two
   * parts is still found; masking can lengthen a very short password, so the limit is kept again.
   * Where the text was cut, the cut may fall in a password or just before the `@` that marks
   * one: `maskCutTail` masks what is left of it, so no part of a password is ever kept.
   */
  toString(): string {
    const text = this.#parts.join('');
    const masked = this.#cut ? `${maskSecrets(maskCutTail(text.slice(0, -1)))}…` : maskSecrets(text);
    return masked.length <= MAX_ERROR_DESCRIPTION ? masked : `${masked.slice(0, MAX_ERROR_DESCRIPTION - 1)}…`;
  }
}

/** Postgres text cannot hold NUL: a dead letter's error must still be storable (same length). */
function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

function isError(value: unknown): value is object {
  try {
    return value instanceof Error;
  } catch {
    // A Proxy whose getPrototypeOf trap throws, or a revoked one.
    return false;
  }
}

function read(target: object, key: PropertyKey): unknown {
  try {
    return (target as Record<PropertyKey, unknown>)[key];
  } catch {
    return UNREADABLE;
  }
}

function readString(target: object, key: string): string | undefined {
  const value = read(target, key);
  return typeof value === 'string' ? value : undefined;
}

function writeError(out: BoundedText, error: object): void {
  const message = read(error, 'message');
  const text = typeof message === 'string' ? message : message === UNREADABLE ? '[unreadable]' : '';
  const code = read(error, 'code');
  out.write(readString(error, 'name') ?? 'Error');
  out.write(': ');
  if (typeof code === 'string' && code.length <= 200 && !text.includes(code)) out.write(`${code}: `);
  out.write(text);
}

/** JSON-like text of any value, bounded in depth, width and total length. */
function writePreview(out: BoundedText, value: unknown, depth: number, seen: Set<object>): void {
  if (out.full) return;
  if (value === UNREADABLE) {
    out.write('[unreadable]');
    return;
  }
  switch (typeof value) {
    case 'string':
      out.write(
        JSON.stringify(value.length > MAX_ERROR_DESCRIPTION ? value.slice(0, MAX_ERROR_DESCRIPTION) : value),
      );
      return;
    case 'number':
    case 'boolean':
    case 'undefined':
    case 'symbol':
      // String() of a symbol is safe where a template literal would throw.
      out.write(String(value));
      return;
    case 'bigint':
      out.write(`${value}n`);
      return;
    case 'function': {
      const name = readString(value, 'name');
      out.write(name ? `[function ${name.slice(0, 200)}]` : '[function]');
      return;
    }
  }
  if (value === null) {
    out.write('null');
    return;
  }
  const object = value as object;
  if (seen.has(object)) {
    out.write('[Circular]');
    return;
  }
  if (isError(object)) {
    out.write('[');
    writeError(out, object);
    out.write(']');
    return;
  }
  if (depth === 0) {
    out.write('[…]');
    return;
  }
  let isArray: boolean;
  let keys: string[] = [];
  try {
    isArray = Array.isArray(object);
    if (!isArray) keys = Object.keys(object);
  } catch {
    // A revoked proxy, or an ownKeys trap that throws.
    out.write('[unreadable object]');
    return;
  }
  seen.add(object);
  try {
    if (isArray) {
      const length = read(object, 'length');
      const n = typeof length === 'number' ? length : 0;
      out.write('[');
      for (let i = 0; i < Math.min(n, MAX_MEMBERS) && !out.full; i++) {
        if (i > 0) out.write(',');
        writePreview(out, read(object, i), depth - 1, seen);
      }
      if (n > MAX_MEMBERS) out.write(`,…${n - MAX_MEMBERS} more`);
      out.write(']');
      return;
    }
    out.write('{');
    for (let i = 0; i < Math.min(keys.length, MAX_MEMBERS) && !out.full; i++) {
      const key = keys[i]!;
      if (i > 0) out.write(',');
      out.write(`${JSON.stringify(key.slice(0, 200))}:`);
      writePreview(out, read(object, key), depth - 1, seen);
    }
    if (keys.length > MAX_MEMBERS) out.write(`,…${keys.length - MAX_MEMBERS} more`);
    out.write('}');
  } finally {
    seen.delete(object);
  }
}
