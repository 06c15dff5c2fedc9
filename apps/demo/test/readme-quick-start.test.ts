/**
 * The README's Quick start, run as a newcomer runs it: the block is extracted from README.md,
 * written next to this package (so `@evco/*` resolve from the workspace), and run in its own
 * process in an empty directory. Afterwards its SQLite file must hold the reaction and no open
 * delivery: the first program must run its handler.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '@evco/store-sqlite';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');

function quickStartBlock(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README.md has no ```ts block under "## Quick start"');
  return match[1]!;
}

describe('README Quick start', () => {
  it('runs its handler: the reaction is stored and nothing is left pending', async () => {
    const scriptDir = join(import.meta.dirname, '..', '.doc-test');
    mkdirSync(scriptDir, { recursive: true });
    const script = join(scriptDir, `quick-start-${process.pid}.mts`);
    const cwd = mkdtempSync(join(tmpdir(), 'evco-quick-start-'));
    try {
      writeFileSync(script, quickStartBlock());
      const run = spawnSync(
        process.execPath,
        ['--import', import.meta.resolve('tsx'), '--conditions=@evco/source', script],
        {
          cwd,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, EVCO_LOG_LEVEL: 'silent' },
        },
      );
      expect(run.status, run.stderr).toBe(0);
      const store = createSqliteStore({ filename: join(cwd, 'events.db') });
      try {
        const events = await store.read({ limit: 10 });
        expect(events.map((e) => e.eventType)).toEqual(['UserRegistered', 'SubscriptionActivated']);
        const stats = await store.stats({ now: new Date() });
        expect(stats).toMatchObject({ pending: 0, running: 0, dead: 0 });
      } finally {
        await store.close();
      }
    } finally {
      rmSync(script, { force: true });
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
