/**
 * Hash routes (`#/events/ID`): the server serves one page and never sees the route, so deep links
 * work under any prefix without server-side fallbacks.
 */

export type Route =
  | { page: 'overview' }
  | { page: 'dead-letters'; handler?: string }
  | { page: 'replay'; replayId?: string }
  | { page: 'events'; query: URLSearchParams }
  | { page: 'event'; eventId: string };

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [path = '', search = ''] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(search);
  switch (parts[0]) {
    case 'dead-letters':
      return { page: 'dead-letters', handler: query.get('handler') ?? undefined };
    case 'replay':
      return parts[1] ? { page: 'replay', replayId: parts[1] } : { page: 'replay' };
    case 'events':
      return parts[1] ? { page: 'event', eventId: parts[1] } : { page: 'events', query };
    default:
      return { page: 'overview' };
  }
}

export const href = {
  overview: () => '#/',
  deadLetters: (handler?: string) =>
    handler ? `#/dead-letters?${new URLSearchParams({ handler })}` : '#/dead-letters',
  replay: (id?: string) => (id ? `#/replay/${encodeURIComponent(id)}` : '#/replay'),
  events: (query?: Record<string, string>) => {
    const q = new URLSearchParams(Object.entries(query ?? {}).filter(([, v]) => v !== ''));
    const s = q.toString();
    return s ? `#/events?${s}` : '#/events';
  },
  event: (id: string) => `#/events/${encodeURIComponent(id)}`,
};
