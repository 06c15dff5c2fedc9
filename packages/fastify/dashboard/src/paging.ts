/**
 * The cursor of the next page, or null when there is none to show. Servers that let a client
 * follow new entries send a cursor even at the end; `hasMore` (when sent) or a short page says
 * whether a next page has anything now.
 */
export function hasNextPage(
  page: { nextCursor: string | null; hasMore?: boolean } | undefined,
  received: number,
  limit: number,
): string | null {
  if (!page?.nextCursor) return null;
  if (page.hasMore !== undefined) return page.hasMore ? page.nextCursor : null;
  return received < limit ? null : page.nextCursor;
}

/**
 * The pruned ranges a page of events reaches. The server lists what retention removed from the
 * whole query's range, which for an unfiltered listing is every pruned type on every page; the
 * removed events would sit only where the page reaches back before a type's cutoff: its oldest
 * event occurred before it, or the page is the listing's oldest end (the last page newest
 * first, the first oldest first; an empty page is both), where nothing older follows.
 */
export function prunedOnPage<P extends { before: string }>(
  pruned: readonly P[] | undefined,
  events: readonly { occurredAt: string }[],
  page: { order: 'asc' | 'desc'; atOldestEnd: boolean },
): P[] {
  if (!pruned || pruned.length === 0) return [];
  if (page.atOldestEnd || events.length === 0) return [...pruned];
  const oldest = Math.min(...events.map((e) => Date.parse(e.occurredAt)));
  return pruned.filter((p) => oldest < Date.parse(p.before));
}
