import { describe, expect, it } from 'vitest';
import {
  type DeadLetter,
  type DeadLetterQuery,
  lookaheadLimit,
  MAX_ADMIN_PAGE,
  readDeadLetterPage,
  splitLookahead,
} from '../src/index.js';

describe('admin pages: "more" only when there is more', () => {
  it('asks one row more, except at the largest page; a limit out of range is left for the API to refuse', () => {
    expect([1, 20, 9_999, MAX_ADMIN_PAGE].map(lookaheadLimit)).toEqual([2, 21, 10_000, 10_000]);
    expect([0, -1, 1.5, 10_001].map(lookaheadLimit)).toEqual([0, -1, 1.5, 10_001]);
  });

  it('shows at most the limit and says more only when a row past it came back', () => {
    const rows = ['a', 'b', 'c', 'd', 'e', 'f'];
    expect(splitLookahead(rows, 5)).toEqual({ rows: ['a', 'b', 'c', 'd', 'e'], more: true });
    expect(splitLookahead(rows.slice(0, 5), 5)).toEqual({ rows: ['a', 'b', 'c', 'd', 'e'], more: false });
    expect(splitLookahead(rows.slice(0, 2), 5)).toEqual({ rows: ['a', 'b'], more: false });
    expect(splitLookahead([], 5)).toEqual({ rows: [], more: false });
  });

  it('at the largest page a full page can only say "maybe more"', () => {
    const full = Array.from({ length: MAX_ADMIN_PAGE }, (_, i) => i);
    expect(splitLookahead(full, MAX_ADMIN_PAGE).more).toBe(true);
    expect(splitLookahead(full.slice(1), MAX_ADMIN_PAGE).more).toBe(false);
  });
});

describe('readDeadLetterPage: pages never cut between the letters of one event', () => {
  /** Letters at these event positions (one per handler), read the way stores list them. */
  function letters(positions: number[]) {
    const all = positions.map(
      (p, i) =>
        ({
          event: { position: String(p) },
          delivery: { deliveryId: String(i + 1) },
        }) as unknown as DeadLetter,
    );
    const reads: DeadLetterQuery[] = [];
    const read = async (q: DeadLetterQuery) => {
      reads.push(q);
      const after = q.afterPosition === undefined ? -1n : BigInt(q.afterPosition);
      return all.filter((d) => BigInt(d.event.position) > after).slice(0, q.limit);
    };
    return { read, reads };
  }
  const ids = (page: { deadLetters: DeadLetter[]; more: boolean }) => [
    page.deadLetters.map((d) => d.delivery.deliveryId),
    page.more,
  ];

  /** Every page from the start, following the last letter's position, as the routes and the CLI do. */
  async function walk(positions: number[], limit: number) {
    const { read } = letters(positions);
    const pages: unknown[] = [];
    let afterPosition: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await readDeadLetterPage(read, { limit, ...(afterPosition ? { afterPosition } : {}) });
      pages.push(ids(page));
      if (!page.more) break;
      afterPosition = page.deadLetters[page.deadLetters.length - 1]!.event.position;
    }
    return pages;
  }

  it('a page that ends the listing says no more, also when exactly full', async () => {
    expect(await walk([1, 2, 3], 3)).toEqual([[['1', '2', '3'], false]]);
    expect(await walk([1, 2, 3], 5)).toEqual([[['1', '2', '3'], false]]);
    expect(await walk([], 5)).toEqual([[[], false]]);
  });

  it('a cut between events keeps the page; a cut inside one event holds its letters back', async () => {
    expect(await walk([1, 1, 2, 2], 2)).toEqual([
      [['1', '2'], true],
      [['3', '4'], false],
    ]);
    expect(await walk([1, 1, 2, 2], 3)).toEqual([
      [['1', '2'], true],
      [['3', '4'], false],
    ]);
  });

  it("one event's letters that alone overfill the page come whole, and say whether more follow", async () => {
    expect(await walk([1, 1], 1)).toEqual([[['1', '2'], false]]);
    expect(await walk([1, 1, 1, 2], 2)).toEqual([
      [['1', '2', '3'], true],
      [['4'], false],
    ]);
    expect(await walk([0, 0], 1)).toEqual([[['1', '2'], false]]);
  });

  it('passes the handler on to every read', async () => {
    const { read, reads } = letters([1, 1]);
    await readDeadLetterPage(read, { limit: 1, handler: 'h' });
    expect(reads.map((q) => q.handler)).toEqual(['h', 'h']);
  });
});
