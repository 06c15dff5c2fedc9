import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeEvent } from '@evco/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/index.js';
import { runFixture, tempDir, unprivilegedUser } from './support.js';

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
  it('a read-only directory or an unreadable file: STORE_UNAVAILABLE naming the file, nothing written', async () => {
    // Root ignores permissions, so the probe runs as nobody when we are root.
    const user = unprivilegedUser();
    const ro = join(tmp.dir, 'ro');
    mkdirSync(ro);
    const existing = join(ro, 'existing.db');
    await seed(existing);
    const unreadable = tmp.file('unreadable.db');
    await seed(unreadable);
    // The file itself is writable by the probe; only its directory is not.
    if (user) chownSync(existing, user.uid, user.gid);
    chmodSync(ro, 0o555);
    chmodSync(unreadable, 0o000);
    const fresh = join(ro, 'new.db');
    const before = { existing: sha(existing), unreadable: sha(unreadable), entries: readdirSync(ro).sort() };

    const probe = runFixture('fs-probe.ts', {
      env: { PROBE_FILES: JSON.stringify([fresh, existing, unreadable]) },
      ...user,
    });
    const result = (await probe.next('result')) as unknown as {
      uid: number;
      outcomes: Array<{ file: string; code: string | null; message: string | null }>;
    };
    expect(await probe.exited).toBe(0);
    expect(result.uid).not.toBe(0);
    for (const outcome of result.outcomes) {
      expect(outcome.code, outcome.file).toBe('STORE_UNAVAILABLE');
      expect(outcome.message, outcome.file).toContain(`[evco:store-sqlite]`);
      expect(outcome.message, outcome.file).toContain(outcome.file);
    }
    expect(existsSync(fresh)).toBe(false);
    expect(readdirSync(ro).sort()).toEqual(before.entries);
    expect(sha(existing)).toBe(before.existing);
    chmodSync(unreadable, 0o600);
    expect(sha(unreadable)).toBe(before.unreadable);
  });
});
