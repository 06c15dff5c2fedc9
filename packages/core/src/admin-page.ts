import type { DeadLetter } from './ports.js';
import type { Position } from './position.js';

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

/** What `readDeadLetterPage` asks of the admin API: `getDeadLetters` of a coordinator or an admin client. */
export type DeadLetterQuery = {
  limit: number;
  handler?: string | undefined;
  afterPosition?: Position | undefined;
};

/**
 * One page of dead letters after `afterPosition`, and whether more follow. Dead letters are
 * listed by event position and one event may have letters of several handlers, so a cursor on
 * a position skips the rest of that event's letters if a page was cut between them: a cut
 * event's letters are held back for the next page, and when they alone fill the page they come
 * complete (one letter per handler at most, so that stays small). The page may therefore hold
 * fewer or more than `limit` letters; the next one continues after its last letter's position.
 */
export async function readDeadLetterPage(
  getDeadLetters: (query: DeadLetterQuery) => Promise<DeadLetter[]>,
  query: DeadLetterQuery,
): Promise<{ deadLetters: DeadLetter[]; more: boolean }> {
  const { limit } = query;
  const read = await getDeadLetters({ ...query, limit: lookaheadLimit(limit) });
  const { rows: page, more } = splitLookahead(read, limit);
  if (!more) return { deadLetters: page, more: false };
  const lastPosition = page[page.length - 1]!.event.position;
  const next = read[page.length];
  if (next !== undefined && next.event.position !== lastPosition) return { deadLetters: page, more: true };
  const shown = page.filter((d) => d.event.position !== lastPosition);
  if (shown.length > 0) return { deadLetters: shown, more: true };
  const before = BigInt(lastPosition) - 1n;
  const { afterPosition: _, ...rest } = query;
  const group = await getDeadLetters({
    ...rest,
    limit: MAX_ADMIN_PAGE,
    ...(before >= 0n ? { afterPosition: before.toString() } : {}),
  });
  const whole = group.filter((d) => d.event.position === lastPosition);
  return { deadLetters: whole, more: group.length > whole.length };
}
