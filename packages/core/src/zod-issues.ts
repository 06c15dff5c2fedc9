import type { z } from 'zod';
import { InvalidOptionsError, type ValidationIssue } from './errors.js';

/**
 * The one way evco validates input with a zod schema: the parsed value, or `InvalidOptionsError`
 * listing every problem under `subject` (and `source`, an adapter's package name).
 * `input: true` is for call arguments (queries): an absent argument is `{}` and a missing field
 * says "is required".
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  value: unknown,
  subject: string,
  source?: string,
  mode: { input?: boolean | undefined } = {},
): z.output<S> {
  const input = mode.input ? (value ?? {}) : value;
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = toIssues(parsed.error, undefined, mode.input ? input : undefined);
  throw new InvalidOptionsError(subject, issues, source === undefined ? undefined : { source });
}

/** `parseOptions` for a call's argument (a query, a registration's options). */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, subject: string): z.output<S> {
  return parseOptions(schema, value, subject, undefined, { input: true });
}

/**
 * zod issues → evco's `{ path, message }` list; an unknown key is reported under its own path.
 * Given the parsed `input`, a missing field says "is required" rather than zod's "Invalid input"
 * (which a union, such as a date that may be a `Date` or a string, reports for `undefined`).
 */
export function toIssues(
  error: z.ZodError,
  skip?: (path: string) => boolean,
  input?: unknown,
): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String).join('.');
    if (skip?.(base)) continue;
    if (
      input !== undefined &&
      issue.path.length > 0 &&
      (issue.code === 'invalid_type' || issue.code === 'invalid_union') &&
      valueAt(input, issue.path) === undefined
    ) {
      out.push({ path: base, message: 'is required' });
    } else if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: base ? `${base}.${key}` : key, message: 'unknown field' });
    } else {
      out.push({ path: base, message: issue.message });
    }
  }
  return out;
}

/**
 * Whether `path` leads to nothing in `input` (a missing field): such an issue reads "is required"
 * whatever the schema said (zod says "Invalid input: expected string, received undefined", a
 * custom message may say "must be a UUID"). Standard Schema path segments may be `{ key }`.
 */
export function isMissingAt(input: unknown, path: ReadonlyArray<unknown>): boolean {
  if (path.length === 0) return false;
  const keys = path.map((p) => (typeof p === 'object' && p !== null ? (p as { key: PropertyKey }).key : p));
  return valueAt(input, keys as PropertyKey[]) === undefined;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = Object.hasOwn(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return value;
}

/**
 * Ties a documented options interface (what users hover: JSDoc and `@default` on each property)
 * to the zod schema that validates it, at compile time: `true` when both name the same options
 * and each accepts what the other does, otherwise an object naming the mismatch, so that
 *
 *     true satisfies OptionsMatchSchema<MyOptions, typeof myOptionsSchema>;
 *
 * fails the build when one of them gains, loses or retypes an option without the other.
 */
export type OptionsMatchSchema<Documented, Schema extends z.ZodType> = [
  Exclude<keyof Documented, keyof z.input<Schema>>,
  Exclude<keyof z.input<Schema>, keyof Documented>,
] extends [never, never]
  ? [Documented] extends [z.input<Schema>]
    ? [z.input<Schema>] extends [Documented]
      ? true
      : { error: 'the schema accepts values the interface does not document' }
    : { error: 'the interface documents values the schema refuses' }
  : {
      error: 'the interface and the schema name different options';
      undocumented: Exclude<keyof z.input<Schema>, keyof Documented>;
      unvalidated: Exclude<keyof Documented, keyof z.input<Schema>>;
    };
