import { afterEach, describe, expect, it } from 'vitest';
import { expectJsonSafe } from '../../testkit/src/json-safe.js';
import { type EventDrivenCoordinator, isEvcoError, type PublishResult } from '../src/index.js';
import { memoryCoordinator } from './support.js';

const fast = { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 2 };

describe('everything the coordinator returns is JSON-safe', () => {
  let coordinator: EventDrivenCoordinator | undefined;
  afterEach(async () => {
    await coordinator?.shutdown();
    coordinator = undefined;
  });

  it('survives JSON.stringify: publish results, history, lists, replay, status, metrics', async () => {
    coordinator = await memoryCoordinator();
    const c = coordinator;
    const followUps: PublishResult[] = [];
    const registration = await c.registerHandler(
      'OrderPlaced',
      async (event, ctx) => {
        followUps.push(await ctx.publish({ eventType: 'OrderConfirmed', aggregateId: event.aggregateId }));
      },
      { name: 'confirm' },
    );
    // A function is not data: the registration serializes to its name and types.
    expect(JSON.parse(JSON.stringify(registration))).toEqual({
      name: 'confirm',
      eventTypes: ['OrderPlaced'],
    });
    await c.registerHandler(
      'OrderPlaced',
      () => {
        throw new Error('always fails');
      },
      { name: 'broken', retry: fast },
    );

    const one = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o-1', eventData: { n: 1 } });
    expectJsonSafe(one, 'publishEvent()');
    expect(one.position).toMatch(/^[1-9][0-9]*$/);
    const many = await c.publishEvents([
      { eventType: 'OrderPlaced', aggregateId: 'o-2' },
      { eventType: 'OrderPlaced', aggregateId: 'o-3', aggregateType: 'Order', aggregateVersion: 1 },
    ]);
    expectJsonSafe(many, 'publishEvents()');
    await c.waitForIdle();
    expectJsonSafe(followUps, 'context.publish()');

    const history = await c.getEventHistory({ limit: 100 });
    expect(history.length).toBe(6);
    expectJsonSafe(history, 'getEventHistory()');
    // What a client got as JSON is a cursor as is.
    const cursor = (JSON.parse(JSON.stringify(history[1])) as { position: string }).position;
    const next = await c.getEventHistory({ afterPosition: cursor, limit: 100 });
    expect(next.map((e) => e.id)).toEqual(history.slice(2).map((e) => e.id));

    const dead = await c.getDeadLetters();
    expect(dead.length).toBe(3);
    expectJsonSafe(dead, 'getDeadLetters()');
    expectJsonSafe(await c.getUnprocessedEvents(), 'getUnprocessedEvents()');
    expectJsonSafe(
      await c.getDeadLetters({ afterPosition: dead[0]!.event.position, handler: 'broken' }),
      'getDeadLetters(cursor)',
    );
    expectJsonSafe(await c.retryDeadLetters({ handler: 'broken' }), 'retryDeadLetters()');
    await c.waitForIdle();
    expectJsonSafe(
      await c.replayEvents({ from: new Date(0), to: new Date(Date.now() + 60_000), handler: 'confirm' }),
      'replayEvents()',
    );
    await c.waitForIdle();
    const status = await c.getCoordinatorStatus();
    expect(status.lastPosition).toBe((await c.getEventHistory({ order: 'desc', limit: 1 }))[0]!.position);
    expectJsonSafe(status, 'getCoordinatorStatus()');
    expectJsonSafe(c.metrics, 'metrics');
    expectJsonSafe(await c.retireHandler('broken'), 'retireHandler()');
    expectJsonSafe(
      await c.pruneEvents({ before: new Date(Date.now() + 60_000), archive: async () => {} }),
      'pruneEvents()',
    );
    const pruned = await c.readEventHistory({});
    expect(pruned.pruned.length).toBeGreaterThan(0);
    expectJsonSafe(pruned, 'readEventHistory()');
  });

  it('rejects a malformed cursor before reading, naming the field', async () => {
    coordinator = await memoryCoordinator();
    const c = coordinator;
    for (const bad of ['abc', '-1', '', '1e3', 5, 5n, '99999999999999999999']) {
      for (const call of [
        () => c.getEventHistory({ afterPosition: bad as string }),
        () => c.getEventHistory({ beforePosition: bad as string }),
        () => c.getUnprocessedEvents({ afterPosition: bad as string }),
        () => c.getDeadLetters({ afterPosition: bad as string }),
      ]) {
        const error = await call().catch((x: unknown) => x);
        expect(isEvcoError(error, 'INVALID_OPTIONS'), String(bad)).toBe(true);
        expect((error as Error).message).toMatch(/Position: must be a position/);
        expect(error).toMatchObject({
          issues: [{ path: expect.stringMatching(/^(after|before)Position$/) }],
        });
      }
    }
  });
});
