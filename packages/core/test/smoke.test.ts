import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../src/index.js';
import { memoryCoordinator } from './support.js';

describe('smoke', () => {
  it('publishes and handles', async () => {
    const c = await memoryCoordinator();
    const seen: RecordedEvent[] = [];
    await c.registerHandler('UserRegistered', async function onUser(e) {
      seen.push(e);
    });
    const r = await c.publishEvent({
      eventType: 'UserRegistered',
      aggregateId: 'u1',
      eventData: { email: 'a@b.c' },
    });
    expect(r.deliveries).toBe(1);
    await c.waitForIdle();
    expect(seen.map((e) => e.id)).toEqual([r.eventId]);
    const status = await c.getCoordinatorStatus();
    expect(status.counts.handled).toBe(1);
    await c.shutdown();
  });
});
