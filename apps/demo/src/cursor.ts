/**
 * Page cursors: opaque to clients, a position (and the direction it was read in) inside.
 * Positions are decimal strings in evco's API (JSON numbers lose precision beyond 2^53).
 */
import { isPosition, type Position } from '@evco/core';
import { ApiError } from './http-errors.js';

export type Order = 'asc' | 'desc';

export interface Cursor {
  /** `asc`: the next page starts after this position; `desc`: before it. */
  position: Position;
  order: Order;
}

const VERSION = 'v1';
const POSITION = /^(0|[1-9][0-9]{0,19})$/;

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
  if (!POSITION.test(position) || !isPosition(position)) throw invalid();
  return { position, order };
}
