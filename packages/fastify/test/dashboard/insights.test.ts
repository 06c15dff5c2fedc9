import { describe, expect, it } from 'vitest';
import { handlerInsights } from '../../dashboard/src/insights.js';
import type { DeliveryJson, EventJson } from '../../dashboard/src/types.js';

const NOW = Date.parse('2026-11-28T10:00:10.000Z');

function event(id: string, recordedAt: string): EventJson {
  return {
    id,
    eventType: 'UserLoggedIn',
    aggregateId: 'u',
    eventData: {},
    metadata: { schemaVersion: 1 },
    occurredAt: recordedAt,
    recordedAt,
    position: '1',
  };
}

function delivery(
  handler: string,
  status: DeliveryJson['status'],
  more: Partial<DeliveryJson> = {},
): DeliveryJson {
  return {
    deliveryId: `${handler}-${status}`,
    handler,
    status,
    attempts: 1,
    nextAttemptAt: null,
    lastError: null,
    isReplay: false,
    updatedAt: '2026-11-28T10:00:00.000Z',
    ...more,
  };
}

describe('handlerInsights', () => {
  it('gives each handler the age of its oldest open delivery and its latest error', () => {
    const insights = handlerInsights(
      [
        {
          event: event('e1', '2026-11-28T10:00:00.000Z'),
          deliveries: [
            delivery('a', 'pending', { lastError: 'timeout', updatedAt: '2026-11-28T10:00:05.000Z' }),
            delivery('b', 'running'),
          ],
        },
        {
          event: event('e2', '2026-11-28T10:00:08.000Z'),
          deliveries: [delivery('a', 'pending'), delivery('c', 'dead', { lastError: 'boom' })],
        },
      ],
      [
        {
          event: event('e0', '2026-11-28T09:00:00.000Z'),
          delivery: delivery('a', 'dead', {
            lastError: 'older error',
            updatedAt: '2026-11-28T09:59:00.000Z',
          }),
        },
        {
          event: event('e3', '2026-11-28T09:00:00.000Z'),
          delivery: delivery('d', 'dead', { lastError: 'only dead', updatedAt: '2026-11-28T09:59:00.000Z' }),
        },
      ],
      NOW,
    );
    expect(insights.get('a')).toEqual({
      lagMs: 10_000,
      lastError: 'timeout',
      lastErrorAt: '2026-11-28T10:00:05.000Z',
    });
    expect(insights.get('b')).toEqual({ lagMs: 10_000, lastError: undefined, lastErrorAt: undefined });
    // A dead delivery is not waiting: no lag, but its error shows.
    expect(insights.get('c')).toMatchObject({ lagMs: undefined, lastError: 'boom' });
    expect(insights.get('d')).toMatchObject({ lagMs: undefined, lastError: 'only dead' });
  });

  it('measures a replayed delivery from when it was queued again, not from its old event', () => {
    const insights = handlerInsights(
      [
        {
          event: event('old', '2026-01-01T00:00:00.000Z'),
          deliveries: [delivery('a', 'pending', { isReplay: true, updatedAt: '2026-11-28T10:00:07.000Z' })],
        },
      ],
      [],
      NOW,
    );
    expect(insights.get('a')?.lagMs).toBe(3000);
  });
});
