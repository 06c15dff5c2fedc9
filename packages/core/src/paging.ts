import type { RecordedEvent } from './event.js';
import type { ReadAllQuery, ReadQuery } from './ports.js';

/**
 * `readAll` for any store with a position-ordered `read`: pages by position cursor, so nothing
 * is skipped or repeated as long as `read` itself only returns events below a stable horizon
 * (stores with out-of-order commits must guarantee that in `read`).
 */
export async function* readAllByPages(
  read: (query: ReadQuery) => Promise<RecordedEvent[]>,
  query: ReadAllQuery = {},
): AsyncGenerator<RecordedEvent> {
  const { pageSize = 1000, ...filter } = query;
  let after = filter.afterPosition;
  for (;;) {
    const page = await read({ ...filter, afterPosition: after, limit: pageSize, order: 'asc' });
    for (const event of page) yield event;
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.position;
  }
}
