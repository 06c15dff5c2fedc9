/** The largest `limit` the admin reads accept (history, unprocessed events, dead letters). */
export const MAX_ADMIN_PAGE = 10_000;

/**
 * How many rows to read to show a page of `limit`: one more, so that a caller tells "there is a
 * next page" from "this page ends the listing" without another query (a full page alone would
 * send its reader to an empty next page). At `MAX_ADMIN_PAGE` there is no room for the extra row;
 * a limit out of range goes through unchanged, for the admin API to refuse by name.
 */
export function lookaheadLimit(limit: number): number {
  return Number.isInteger(limit) && limit >= 1 && limit < MAX_ADMIN_PAGE ? limit + 1 : limit;
}

/**
 * The page to show out of rows read with `lookaheadLimit(limit)`, and whether more rows follow.
 * At `MAX_ADMIN_PAGE` a full page can only mean "maybe more", and says so.
 */
export function splitLookahead<T>(rows: readonly T[], limit: number): { rows: T[]; more: boolean } {
  const more = rows.length > limit || (lookaheadLimit(limit) === limit && rows.length === limit);
  return { rows: rows.slice(0, limit), more };
}
