import { describe, expect, it } from 'vitest';
import { lookaheadLimit, MAX_ADMIN_PAGE, splitLookahead } from '../src/index.js';

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
