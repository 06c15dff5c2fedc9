import { describe, expect, it } from 'vitest';
import { prunedOnPage } from '../../dashboard/src/paging.js';

const pruned = [
  {
    eventType: 'OrderPlaced',
    before: '2026-01-10T00:00:00.000Z',
    removed: 500,
    lastPrunedAt: '2026-02-01T00:00:00.000Z',
  },
  {
    eventType: 'UserRegistered',
    before: '2026-01-20T00:00:00.000Z',
    removed: 20,
    lastPrunedAt: '2026-02-01T00:00:00.000Z',
  },
];
const at = (...days: number[]) =>
  days.map((d) => ({ occurredAt: `2026-01-${String(d).padStart(2, '0')}T12:00:00.000Z` }));

describe('prunedOnPage', () => {
  it('newest first: a page of recent events that continues further back does not reach the pruned range', () => {
    expect(prunedOnPage(pruned, at(28, 27, 26), { order: 'desc', atOldestEnd: false })).toEqual([]);
  });

  it('newest first: a page whose oldest event is before a cutoff reaches that type only', () => {
    expect(prunedOnPage(pruned, at(25, 18, 15), { order: 'desc', atOldestEnd: false })).toEqual([pruned[1]]);
    expect(prunedOnPage(pruned, at(12, 9), { order: 'desc', atOldestEnd: false })).toEqual(pruned);
  });

  it('the last page of a newest-first listing (or the first of an oldest-first one) reaches every pruned range', () => {
    expect(prunedOnPage(pruned, at(28, 27), { order: 'desc', atOldestEnd: true })).toEqual(pruned);
    expect(prunedOnPage(pruned, at(26, 27), { order: 'asc', atOldestEnd: true })).toEqual(pruned);
    expect(prunedOnPage(pruned, [], { order: 'desc', atOldestEnd: false })).toEqual(pruned);
  });

  it('oldest first: a later page starting after the cutoffs does not reach them', () => {
    expect(prunedOnPage(pruned, at(21, 22), { order: 'asc', atOldestEnd: false })).toEqual([]);
    expect(prunedOnPage(pruned, at(19, 22), { order: 'asc', atOldestEnd: false })).toEqual([pruned[1]]);
  });

  it('nothing pruned, nothing to say', () => {
    expect(prunedOnPage(undefined, at(1), { order: 'desc', atOldestEnd: true })).toEqual([]);
  });
});
