import { existsSync, renameSync, rmSync } from 'node:fs';
import { makeEvent } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { failure, useTempStores } from './store-fixture.js';

const now = () => new Date();

const { tmp, open } = useTempStores();

/** The file as SQLite leaves it: the database, its WAL and its shared-memory index. */
function removeDatabase(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
}

describe('the database file deleted or replaced under a running store', () => {
  it('deleted: health turns unhealthy and every write fails with STORE_UNAVAILABLE; no file is created in its place', async () => {
    const file = tmp.file();
    const store = open({ filename: file });
    await store.append([makeEvent()], { now: now() });
    expect((await store.healthCheck()).healthy).toBe(true);

    removeDatabase(file);

    const health = await store.healthCheck();
    expect(health.healthy).toBe(false);
    expect(health.details).toMatchObject({ filename: file, file: 'deleted' });
    const error = await failure(store.append([makeEvent()], { now: now() }));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toMatch(/deleted/);
    expect(error.message).not.toContain(tmp.dir);
    expect(error.details).toMatchObject({ file });
    for (const write of [
      store.claimDue({ consumerId: 'c', handlers: ['h'], now: now(), leaseMs: 1000, limit: 10 }),
      store.registerSubscriptions([{ handler: 'h', eventType: 'TestHappened', ordering: 'aggregate' }], {
        consumerId: 'c',
        now: now(),
        ttlMs: 60_000,
      }),
      store.complete([{ deliveryId: '1', attempt: 1 }], { now: now() }),
    ]) {
      expect((await failure(write)).code).toBe('STORE_UNAVAILABLE');
    }
    expect(existsSync(file)).toBe(false);
  });

  it('replaced by another process’s new file: the old store refuses to write, so no event goes to a file nobody reads', async () => {
    const file = tmp.file();
    const first = open({ filename: file });
    await first.append([makeEvent()], { now: now() });
    removeDatabase(file);
    // What a third process did in the reported incident: open the path and get a new, empty file.
    const third = open({ filename: file });
    const written = makeEvent();
    await third.append([written], { now: now() });

    const health = await first.healthCheck();
    expect(health.healthy).toBe(false);
    expect(health.details).toMatchObject({ filename: file, file: 'replaced' });
    const error = await failure(first.append([makeEvent()], { now: now() }));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toMatch(/replaced/);
    expect(error.details).toMatchObject({ file });
    expect((await third.read({ limit: 10 })).map((e) => e.id)).toEqual([written.id]);
  });

  it('moved away and back (the same file): the store carries on', async () => {
    const file = tmp.file();
    const store = open({ filename: file });
    await store.append([makeEvent()], { now: now() });
    renameSync(file, `${file}.moved`);
    expect((await failure(store.append([makeEvent()], { now: now() }))).code).toBe('STORE_UNAVAILABLE');
    renameSync(`${file}.moved`, file);
    await store.append([makeEvent()], { now: now() });
    expect(await store.read({ limit: 10 })).toHaveLength(2);
    expect((await store.healthCheck()).details).toMatchObject({ file: 'present' });
  });

  it('fileMustExist: a missing file is STORE_UNAVAILABLE instead of a new empty database', async () => {
    const file = tmp.file();
    const store = open({ filename: file, fileMustExist: true });
    const error = await failure(store.migrate());
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.details).toMatchObject({ file });
    // Names the actual cause and the way out, not SQLite's list of other causes; never the path.
    expect(error.message).toMatch(/does not exist, and fileMustExist is set; create it first/);
    expect(error.message).not.toContain(tmp.dir);
    expect(existsSync(file)).toBe(false);
    await open({ filename: file }).migrate();
    await open({ filename: file, fileMustExist: true }).migrate();
  });
});
