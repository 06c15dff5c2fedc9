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

/**
 * The pruned ranges a page of events reaches, as the dashboard's `prunedOnPage`: the store lists
 * what retention removed from the whole query's range, so every page of an unfiltered listing
 * would say it. The removed events would sit only where the page reaches back before a type's
 * cutoff: its oldest event occurred before it, or the page is the listing's oldest end (the last
 * page newest first, the first oldest first; an empty page is both), where nothing older follows.
 */
export function prunedOnPage<P extends { before: Date }>(
  pruned: readonly P[],
  events: readonly { occurredAt: Date }[],
  atOldestEnd: boolean,
): P[] {
  if (atOldestEnd || events.length === 0) return [...pruned];
  const oldest = Math.min(...events.map((e) => e.occurredAt.getTime()));
  return pruned.filter((p) => oldest < p.before.getTime());
}
