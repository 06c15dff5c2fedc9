/**
 * The README's Quick start does what it shows: run as a newcomer runs it (its own process, an
 * empty directory), its SQLite file afterwards holds the event and the reaction, and no delivery
 * is left open. docs.test.ts runs it too; this test looks at what it stored.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '@evco/store-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { runBlock } from '../src/run.js';
import { writeBlocks } from '../src/typecheck.js';
import { BLOCKS, blockDir, ROOT } from './workspace.js';

const heading = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').indexOf('## Quick start') + 1;
const quickStart = BLOCKS.find((b) => b.file === 'README.md' && b.line > heading);
const work = blockDir('quick-start');
afterAll(() => work.remove());

describe('README Quick start', () => {
  it('runs its handler: the reaction is stored and nothing is left pending', async () => {
    expect(heading, 'README.md has a "## Quick start" heading').toBeGreaterThan(0);
    if (!quickStart) throw new Error('README.md has no ```ts block under "## Quick start"');
    const cwd = mkdtempSync(join(tmpdir(), 'evco-quick-start-'));
    try {
      const path = writeBlocks([quickStart], work.dir).get(quickStart)!;
      const result = await runBlock(quickStart, { path, cwd, env: { EVCO_LOG_LEVEL: 'silent' } });
      expect(result.ok, result.failure).toBe(true);
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
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 120_000);
});
