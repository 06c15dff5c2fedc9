import type { z } from 'zod';
import type { ValidationIssue } from './errors.js';

/** zod issues → evco's `{ path, message }` list; an unknown key is reported under its own path. */
export function toIssues(error: z.ZodError, skip?: (path: string) => boolean): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of error.issues) {
    const base = issue.path.map(String).join('.');
    if (skip?.(base)) continue;
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: base ? `${base}.${key}` : key, message: 'unknown field' });
    } else {
      out.push({ path: base, message: issue.message });
    }
  }
  return out;
}
