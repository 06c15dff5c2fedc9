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
