import { type Position, splitLookahead } from '@evco/core';
import { showPosition } from './position.js';

/** The rows to show and the cursor of the next page (null when this page is the last). */
export function pageOf<T>(
  rows: readonly T[],
  limit: number,
  positionOf: (row: T) => Position,
): { rows: T[]; nextCursor: string | null } {
  const page = splitLookahead(rows, limit);
  const last = page.rows[page.rows.length - 1];
  return { rows: page.rows, nextCursor: page.more && last ? showPosition(positionOf(last)) : null };
}
