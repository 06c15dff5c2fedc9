import type { Position } from '@evco/core';
import { showPosition } from './position.js';

/** The largest page the admin API serves (`limit` ≤ 10 000). */
const MAX_PAGE = 10_000;

/**
 * How many rows to ask for: one more than shown, so that "more" is printed only when there is
 * more (a full page alone would send the operator to an empty next page). At the largest page
 * there is no room for the extra row, and a full page can only mean "maybe more". A limit out of
 * range goes through unchanged, for the admin API to refuse by name.
 */
export function lookahead(limit: number): number {
  return Number.isInteger(limit) && limit >= 1 && limit < MAX_PAGE ? limit + 1 : limit;
}

/** The rows to show and the cursor of the next page (null when this page is the last). */
export function pageOf<T>(
  rows: readonly T[],
  limit: number,
  positionOf: (row: T) => Position,
): { rows: T[]; nextCursor: string | null } {
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  const more = rows.length > limit || (lookahead(limit) === limit && rows.length === limit);
  return { rows: shown, nextCursor: more && last ? showPosition(positionOf(last)) : null };
}
