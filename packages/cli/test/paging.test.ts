import { createCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createSqliteStore } from '@evco/store-sqlite';
import { makeEvent } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { deadLetters } from '../src/commands/dead-letters.js';
import { history } from '../src/commands/history.js';
import type { Context } from '../src/context.js';
import { pageOf } from '../src/paging.js';
import { capturedContext, tempStoreFile } from './support.js';

/** A store file holding `count` events, and a context that runs commands on it and keeps the output. */
async function storeWith(
  count: number,
  json = false,
): Promise<{ ctx: Context; out: () => string; file: string }> {
  const file = tempStoreFile('evco-cli-paging-');
  const store = createSqliteStore({ filename: file });
  await store.append(
    Array.from({ length: count }, () => makeEvent()),
    { now: new Date() },
  );
  await store.close();
  return { ...capturedContext({ sqlite: file }, json), file };
}

describe('paging: "more" only when there is more', () => {
  it('history: a page that ends the listing prints no cursor, one with more prints the next one', async () => {
    const exact = await storeWith(2);
    await history(exact.ctx, { limit: 2, order: 'asc' });
    expect(exact.out()).not.toMatch(/more:/);

    const longer = await storeWith(3);
    await history(longer.ctx, { limit: 2, order: 'asc' });
    expect(longer.out()).toMatch(/more: add --cursor 2\n/);
    await history(longer.ctx, { limit: 2, order: 'asc', cursor: '2' });
    expect(longer.out().match(/more:/g)).toHaveLength(1);

    const asJson = await storeWith(2, true);
    await history(asJson.ctx, { limit: 2, order: 'asc' });
    expect(JSON.parse(asJson.out())).toMatchObject({ nextCursor: null });
    expect(JSON.parse(asJson.out()).events).toHaveLength(2);
  });

  it("dead-letters never splits one event's letters between pages, so following the cursor skips none", async () => {
    const { ctx, out, file } = await storeWith(0, true);
    const coordinator = await createCoordinator({
      store: createSqliteStore({ filename: file }),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    for (const name of ['first', 'second']) {
      const fail = async () => Promise.reject(new Error(name));
      await coordinator.registerHandler('Failing', fail, { name });
    }
    for (const aggregateId of ['a', 'b', 'c'])
      await coordinator.publishEvent({ eventType: 'Failing', aggregateId });
    await coordinator.waitForIdle();
    await coordinator.shutdown();

    for (const limit of [1, 2, 3, 4, 5, 6]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const before = out().length;
        await deadLetters(ctx, { limit, ...(cursor === undefined ? {} : { cursor }) });
        const reply = JSON.parse(out().slice(before)) as {
          deadLetters: Array<{ event: { aggregateId: string }; delivery: { handler: string } }>;
          nextCursor: string | null;
        };
        seen.push(...reply.deadLetters.map((d) => `${d.event.aggregateId}:${d.delivery.handler}`));
        if (reply.nextCursor === null) break;
        cursor = reply.nextCursor;
      }
      expect(seen.sort(), `--limit ${limit}`).toEqual([
        'a:first',
        'a:second',
        'b:first',
        'b:second',
        'c:first',
        'c:second',
      ]);
    }
  });

  it('at the largest page a full page can only say "maybe more"', () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => String(i + 1));
    expect(pageOf(rows, 10_000, (p) => p).nextCursor).toBe('10000');
    expect(pageOf(rows.slice(0, 9_999), 10_000, (p) => p).nextCursor).toBeNull();
    expect(pageOf(rows.slice(0, 6), 5, (p) => p)).toEqual({ rows: rows.slice(0, 5), nextCursor: '5' });
    expect(pageOf(rows.slice(0, 5), 5, (p) => p).nextCursor).toBeNull();
  });
});

describe('history: a pruned: line only on a page that reaches the pruned range', () => {
  /**
   * Kept 2001-01-01 and 2001-06-01, Old 2001-03-01 pruned (cutoff 2002-01-01), then three new
   * events: the new ones sit after the cutoff, the kept ones before it.
   */
  async function prunedStore(json: boolean) {
    const { ctx, out, file } = await storeWith(0, json);
    const app = await createCoordinator({
      store: createSqliteStore({ filename: file }),
      publisher: createInProcPublisher(),
      logger: silentLogger,
    });
    await app.publishEvents([
      { eventType: 'Kept', aggregateId: 'k1', occurredAt: '2001-01-01T00:00:00.000Z' },
      { eventType: 'Old', aggregateId: 'o1', occurredAt: '2001-03-01T00:00:00.000Z' },
      { eventType: 'Kept', aggregateId: 'k2', occurredAt: '2001-06-01T00:00:00.000Z' },
    ]);
    await app.pruneEvents({ before: '2002-01-01T00:00:00.000Z', types: ['Old'] });
    for (const aggregateId of ['n1', 'n2', 'n3']) await app.publishEvent({ eventType: 'New', aggregateId });
    await app.shutdown();
    return { ctx, out };
  }

  /** Follows the cursor from the first page, returning for each page its aggregates and whether it said pruned. */
  async function walk(json: boolean, order: 'asc' | 'desc'): Promise<Array<[string[], boolean]>> {
    const { ctx, out } = await prunedStore(json);
    const pages: Array<[string[], boolean]> = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const before = out().length;
      await history(ctx, { limit: 2, order, ...(cursor === undefined ? {} : { cursor }) });
      const text = out().slice(before);
      if (json) {
        const reply = JSON.parse(text) as {
          events: Array<{ aggregateId: string }>;
          nextCursor: string | null;
          pruned: Array<{ eventType: string }>;
        };
        expect(reply.pruned.map((p) => p.eventType)).toEqual(reply.pruned.length ? ['Old'] : []);
        pages.push([reply.events.map((e) => e.aggregateId), reply.pruned.length > 0]);
        cursor = reply.nextCursor ?? undefined;
      } else {
        const said = text.match(/^pruned: .*$/gm) ?? [];
        expect(
          said.every((l) => /^pruned: Old events that occurred before 2002-01-01T00:00:00.000Z /.test(l)),
        ).toBe(true);
        expect(said.length).toBeLessThanOrEqual(1);
        pages.push([[...text.matchAll(/ (k\d|n\d) /g)].map((m) => m[1]!), said.length === 1]);
        cursor = /more: add --cursor (\S+)/.exec(text)?.[1];
      }
      if (cursor === undefined) break;
    }
    return pages;
  }

  for (const json of [false, true]) {
    it(`newest first${json ? ' (--json)' : ''}: pages of newer events say nothing, the page reaching back before the cutoff does`, async () => {
      expect(await walk(json, 'desc')).toEqual([
        [['n3', 'n2'], false],
        [['n1', 'k2'], true],
        [['k1'], true],
      ]);
    });

    it(`oldest first${json ? ' (--json)' : ''}: the first page (nothing older precedes it) and pages before the cutoff say it, later ones not`, async () => {
      expect(await walk(json, 'asc')).toEqual([
        [['k1', 'k2'], true],
        [['n1', 'n2'], false],
        [['n3'], false],
      ]);
    });
  }

  it('a page of newer events says it when it is the oldest end of the listing (nothing older is left)', async () => {
    const { ctx, out } = await prunedStore(false);
    await history(ctx, { limit: 5, order: 'desc', type: ['New', 'Old'] });
    expect(out()).toMatch(/^pruned: Old events that occurred before 2002-01-01T00:00:00.000Z /m);
  });
});
