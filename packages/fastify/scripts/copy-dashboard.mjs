#!/usr/bin/env node
// Part of `pnpm build`: copies the dashboard's built assets (dashboard/dist, made by the
// dashboard's own build) into dist/dashboard, where the published plugin serves them from.
// Without a built dashboard the plugin serves a placeholder page saying how to build it.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'dashboard', 'dist');
const to = join(root, 'dist', 'dashboard');

rmSync(to, { recursive: true, force: true });
if (existsSync(join(from, 'index.html'))) {
  cpSync(from, to, { recursive: true });
  process.stdout.write(`dashboard: copied ${from} -> ${to}\n`);
} else {
  process.stdout.write('dashboard: no dashboard/dist/index.html; the plugin will serve a placeholder page\n');
}
