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
