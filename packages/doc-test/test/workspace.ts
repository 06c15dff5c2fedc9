/** Where the suites find the docs and write the blocks (inside this package, so `@evco/*` resolve). */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { docBlocks, docFiles } from '../src/docs.js';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const FILES = docFiles(ROOT);
/** Parsed at collection: a bad marker fails the suite with its file and line. */
export const BLOCKS = docBlocks(ROOT, FILES);

/** A fresh directory for this run's block files; `remove` when done. */
export function blockDir(name: string): { dir: string; remove: () => void } {
  const dir = join(import.meta.dirname, '..', '.doc-test', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
