/**
 * Page cursors: opaque to clients, a position (and the direction it was read in) inside.
 * Positions travel as decimal strings, never as JSON numbers (which lose precision beyond 2^53).
 */
import { ApiError } from './errors.js';

export type Order = 'asc' | 'desc';

export interface Cursor {
  /** Decimal. `asc`: the next page starts after this position; `desc`: before it. */
  position: string;
  order: Order;
}

const VERSION = 'v1';
const POSITION = /^(0|[1-9][0-9]{0,19})$/;
const MAX_POSITION = 2n ** 63n - 1n;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(`${VERSION}:${cursor.order}:${cursor.position}`, 'utf8').toString('base64url');
}

/** Throws `ApiError` 400 `INVALID_CURSOR` for anything `encodeCursor` did not produce. */
export function decodeCursor(value: string, path = 'cursor'): Cursor {
  const invalid = () =>
    new ApiError(
      400,
      'INVALID_CURSOR',
      `${path} is not a cursor this service issued; use nextCursor from a reply`,
      {
        issues: [{ path, message: 'not a valid cursor' }],
      },
    );
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw invalid();
  const [version, order, position, ...rest] = Buffer.from(value, 'base64url').toString('utf8').split(':');
  if (version !== VERSION || (order !== 'asc' && order !== 'desc') || !position || rest.length > 0)
    throw invalid();
  if (!POSITION.test(position) || BigInt(position) > MAX_POSITION) throw invalid();
  return { position, order };
}

/** An `asc` cursor's position (listings that only go forward), or `undefined` without a cursor. */
export function afterCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const decoded = decodeCursor(cursor);
  if (decoded.order !== 'asc') {
    throw new ApiError(400, 'INVALID_CURSOR', 'this cursor belongs to another listing', {
      issues: [{ path: 'cursor', message: 'belongs to another listing' }],
    });
  }
  return decoded.position;
}
