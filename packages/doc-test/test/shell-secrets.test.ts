/**
 * The docs' shell examples must not teach an operator to put a connection URL (password
 * included) where others can read it: a command-line argument is in `ps` for every local user and
 * in the shell's history, and `pnpm <script>` echoes the command it runs to stderr (into the
 * terminal, CI logs, a screen share). The CLI reads DATABASE_URL / REDIS_URL from the
 * environment; `pnpm --silent` drops the echo.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FILES, ROOT } from './workspace.js';

/** Every line of every sh/bash/shell block, with where it is. */
function shellLines(): Array<{ where: string; line: string }> {
  const out: Array<{ where: string; line: string }> = [];
  for (const file of FILES) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    let inShell = false;
    lines.forEach((line, i) => {
      const fence = /^\s*```(\w*)/.exec(line);
      if (fence) {
        inShell = !inShell && ['sh', 'bash', 'shell', 'console'].includes(fence[1] ?? '');
        return;
      }
      if (inShell) out.push({ where: `${file}:${i + 1}`, line });
    });
  }
  return out;
}

describe('shell examples keep connection URLs off the command line', () => {
  const lines = shellLines();

  it('finds the evco command examples', () => {
    expect(lines.filter((l) => /\bevco\b/.test(l.line)).length).toBeGreaterThan(5);
  });

  it('no --database-url / --redis-url "$VAR": the CLI reads DATABASE_URL and REDIS_URL itself', () => {
    const bad = lines.filter((l) => /--(database|redis)-url\s+"?\$/.test(l.line));
    expect(bad.map((l) => `${l.where}: ${l.line.trim()}`)).toEqual([]);
  });

  it('pnpm evco runs with --silent, so pnpm does not echo the command line', () => {
    const bad = lines.filter((l) => /\bpnpm\s+evco\b/.test(l.line));
    expect(bad.map((l) => `${l.where}: ${l.line.trim()}`)).toEqual([]);
  });
});
