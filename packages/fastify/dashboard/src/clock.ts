/**
 * The server's clock, as seen from the page. Every time the dashboard compares with "now" (last
 * seen, expires in, the age of an error, the replay form's default range) is a server time, but
 * `Date.now()` is the operator's machine, which can be minutes off: a live coordinator would read
 * "last seen in 10 min" and a replay of "the last hour" would miss the newest events. Each reply's
 * `Date` header gives the offset (1 s resolution), taken only past 2 s so rounding never shows.
 */

let offsetMs = 0;

/** How far the server's clock is ahead of this one (negative: behind), from one reply. */
export function clockOffsetFrom(
  dateHeader: string | null,
  sentAt: number,
  receivedAt: number,
): number | undefined {
  const server = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  if (Number.isNaN(server)) return undefined;
  // The header is truncated to the second: its middle is the best guess, against the request's middle.
  const offset = server + 500 - (sentAt + receivedAt) / 2;
  return Math.abs(offset) > 2000 ? Math.round(offset) : 0;
}

export function noteServerDate(dateHeader: string | null, sentAt: number, receivedAt: number): void {
  const offset = clockOffsetFrom(dateHeader, sentAt, receivedAt);
  if (offset !== undefined) offsetMs = offset;
}

/** Now, on the server's clock. */
export function serverNow(): number {
  return Date.now() + offsetMs;
}
