import { describe, expect, it } from 'vitest';
import { hasNextPage } from '../../dashboard/src/paging.js';
import { href, parseRoute } from '../../dashboard/src/router.js';

describe('dashboard routes', () => {
  it('round-trips every link through the hash', () => {
    expect(parseRoute(href.overview())).toEqual({ page: 'overview' });
    expect(parseRoute('')).toEqual({ page: 'overview' });
    expect(parseRoute('#/nowhere')).toEqual({ page: 'overview' });
    expect(parseRoute(href.deadLetters())).toEqual({ page: 'dead-letters', handler: undefined });
    expect(parseRoute(href.deadLetters('user.record Login'))).toEqual({
      page: 'dead-letters',
      handler: 'user.record Login',
    });
    expect(parseRoute(href.replay())).toEqual({ page: 'replay' });
    expect(parseRoute(href.replay('r/1'))).toEqual({ page: 'replay', replayId: 'r/1' });
    expect(parseRoute(href.event('01a2-é'))).toEqual({ page: 'event', eventId: '01a2-é' });
  });

  it('keeps the explorer filters in the hash, dropping empty ones', () => {
    const link = href.events({ eventType: 'UserRegistered', aggregateId: '', correlationId: 'c&1' });
    expect(link).toBe('#/events?eventType=UserRegistered&correlationId=c%261');
    const route = parseRoute(link);
    expect(route.page).toBe('events');
    if (route.page !== 'events') return;
    expect(Object.fromEntries(route.query)).toEqual({ eventType: 'UserRegistered', correlationId: 'c&1' });
    expect(href.events()).toBe('#/events');
  });
});

describe('hasNextPage', () => {
  it('trusts hasMore when sent, else a full page', () => {
    expect(hasNextPage(undefined, 0, 50)).toBeNull();
    expect(hasNextPage({ nextCursor: null }, 50, 50)).toBeNull();
    expect(hasNextPage({ nextCursor: 'c', hasMore: false }, 50, 50)).toBeNull();
    expect(hasNextPage({ nextCursor: 'c', hasMore: true }, 3, 50)).toBe('c');
    expect(hasNextPage({ nextCursor: 'c' }, 49, 50)).toBeNull();
    expect(hasNextPage({ nextCursor: 'c' }, 50, 50)).toBe('c');
  });
});
