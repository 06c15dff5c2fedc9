import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEvent } from '@evco/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/index.js';
import { runFixture, tempDir } from './support.js';

let tmp: ReturnType<typeof tempDir>;

beforeEach(() => {
  tmp = tempDir();
});

afterEach(() => {
  chmodSync(join(tmp.dir, 'ro'), 0o755);
  tmp.cleanup();
});

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function seed(file: string): Promise<void> {
  const store = createSqliteStore({ filename: file });
  await store.append([makeEvent(), makeEvent()], { now: new Date() });
  await store.close();
}

describe('file system failures', () => {
  it('a read-only directory or an unreadable file: STORE_UNAVAILABLE naming the file in details, nothing written', async () => {
    const ro = join(tmp.dir, 'ro');
    mkdirSync(ro);
    const existing = join(ro, 'existing.db');
    await seed(existing);
    const unreadable = tmp.file('unreadable.db');
    await seed(unreadable);
    // The file itself stays writable by the probe (even when it runs as nobody); only its
    // directory is not.
    chmodSync(existing, 0o666);
    chmodSync(ro, 0o555);
    chmodSync(unreadable, 0o000);
    const fresh = join(ro, 'new.db');
    const before = { existing: sha(existing), unreadable: sha(unreadable), entries: readdirSync(ro).sort() };

    const probe = runFixture('fs-probe.ts', {
      env: { PROBE_FILES: JSON.stringify([fresh, existing, unreadable]) },
      unprivileged: true,
    });
    const result = (await probe.next('result')) as unknown as {
      outcomes: Array<{ file: string; code: string | null; message: string | null; details?: unknown }>;
    };
    expect(await probe.exited).toBe(0);
    for (const outcome of result.outcomes) {
      expect(outcome.code, outcome.file).toBe('STORE_UNAVAILABLE');
      expect(outcome.message, outcome.file).toContain(`[evco:store-sqlite]`);
      // The path is for operators (details, logged), never in a message a client may see.
      expect(outcome.message, outcome.file).not.toContain(tmp.dir);
      expect(outcome.details, outcome.file).toMatchObject({ file: outcome.file });
    }
    expect(existsSync(fresh)).toBe(false);
    expect(readdirSync(ro).sort()).toEqual(before.entries);
    expect(sha(existing)).toBe(before.existing);
    chmodSync(unreadable, 0o600);
    expect(sha(unreadable)).toBe(before.unreadable);
  });
});
