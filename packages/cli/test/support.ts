import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach } from 'vitest';
import type { ConnectionFlags } from '../src/connect.js';
import type { Context } from '../src/context.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A SQLite file name in a temporary directory of its own, removed after the test. */
export function tempStoreFile(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return join(dir, 'events.db');
}

/** A context for running a command in-process on `flags`, keeping what it prints on stdout. */
export function capturedContext(flags: ConnectionFlags, json = false): { ctx: Context; out: () => string } {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (d) => {
    text += d;
  });
  const ctx: Context = {
    io: { stdout, stderr: new PassThrough(), env: {}, interrupted: new Promise(() => {}) },
    json,
    flags,
  };
  return { ctx, out: () => text };
}
