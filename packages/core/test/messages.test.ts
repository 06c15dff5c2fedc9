import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createCoordinator,
  createDomainEvent,
  defineEvent,
  getCoordinator,
  isEvcoError,
  publishEvent,
  registerHandler,
  shutdownCoordinator,
  silentLogger,
} from '../src/index.js';
import { createInProcPublisher, createMemoryStore, memoryCoordinator } from './support.js';

describe('messages that say what happened', () => {
  it('module-level calls after shutdownCoordinator() say it was shut down, not "no coordinator yet"', async () => {
    await getCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
    });
    await shutdownCoordinator();
    for (const call of [
      () => publishEvent({ eventType: 'Late', aggregateId: 'a' }),
      () => registerHandler('Late', () => {}, { name: 'late' }),
      () => getCoordinator(),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(isEvcoError(error, 'COORDINATOR_CLOSED')).toBe(true);
      expect((error as Error).message).toMatch(/was shut down/);
      expect((error as Error).message).not.toMatch(/no coordinator yet/);
    }
    // A new start is still possible.
    const again = await getCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
    });
    expect(again.state).toBe('running');
    await shutdownCoordinator();
  });

  it('a missing event field says "is required", in the envelope and in a contract\'s data', () => {
    const Signup = defineEvent(
      'Signup',
      z.strictObject({
        userId: z.uuid({ message: 'must be a UUID' }),
        profile: z.object({ name: z.string() }),
      }),
    );
    const issuesOf = (create: () => unknown) => {
      try {
        create();
      } catch (error) {
        expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
        return (error as unknown as { issues: unknown[] }).issues;
      }
      throw new Error('expected EVENT_VALIDATION');
    };
    expect(issuesOf(() => createDomainEvent({ eventType: 'Signup' } as never))).toEqual([
      { path: 'aggregateId', message: 'is required' },
    ]);
    expect(issuesOf(() => Signup.create({ aggregateId: 'a', data: { profile: {} } as never }))).toEqual([
      { path: 'eventData.userId', message: 'is required' },
      { path: 'eventData.profile.name', message: 'is required' },
    ]);
    // A value that is there but wrong keeps the schema's own message.
    expect(
      issuesOf(() =>
        Signup.create({ aggregateId: 'a', data: { userId: 'u-1', profile: { name: 1 } } as never }),
      ),
    ).toEqual([
      { path: 'eventData.userId', message: 'must be a UUID' },
      { path: 'eventData.profile.name', message: expect.stringMatching(/expected string, received number/) },
    ]);
  });

  it('a missing store or publisher, or a factory passed uncalled, says how to fix it', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { store: createMemoryStore() },
        /publisher: is required: an EventPublisher, e.g. createInProcPublisher\(\)/,
      ],
      [
        { publisher: createInProcPublisher() },
        /store: is required: an EventStore, e\.g\. createSqliteStore\(/,
      ],
      [
        { store: createMemoryStore(), publisher: createInProcPublisher },
        /publisher: is a function, not an EventPublisher: call the factory \(createInProcPublisher\(\)\)/,
      ],
      [
        { store: createMemoryStore, publisher: createInProcPublisher() },
        /store: is a function, not an EventStore: call the factory/,
      ],
      [{ store: {}, publisher: createInProcPublisher() }, /store: must implement append, read, claimDue/],
    ];
    for (const [options, message] of cases) {
      const error = await createCoordinator({ logger: silentLogger, ...options } as never).catch(
        (e: unknown) => e,
      );
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('replayEvents without `to` (or `from`) says the field is required', async () => {
    const c = await memoryCoordinator();
    try {
      const error = await c.replayEvents({ from: new Date(0) } as never).catch((e: unknown) => e);
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
      expect(error).toMatchObject({ issues: [{ path: 'to', message: 'is required' }] });
      expect((error as Error).message).toContain('to: is required');
      const both = await c.replayEvents({} as never).catch((e: unknown) => e);
      expect(both).toMatchObject({
        issues: [
          { path: 'from', message: 'is required' },
          { path: 'to', message: 'is required' },
        ],
      });
      // A present but wrong value keeps its specific message.
      const wrong = await c.replayEvents({ from: new Date(0), to: 'tomorrow' }).catch((e: unknown) => e);
      expect((wrong as Error).message).not.toContain('is required');
    } finally {
      await c.shutdown();
    }
  });

  it('registering for a malformed event type says what a type may hold, as publishing one does', async () => {
    const c = await memoryCoordinator();
    try {
      const error = await c
        .registerHandler('user registered', async function h() {})
        .catch((e: unknown) => e);
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
      expect(error).toMatchObject({
        issues: [
          {
            path: 'eventType',
            message:
              '"user registered" is not a valid event type: may only contain letters, digits and _ . : -',
          },
        ],
      });
      const empty = await c.registerHandler('', async function h() {}).catch((e: unknown) => e);
      expect((empty as Error).message).toContain('"" is not a valid event type: ');
    } finally {
      await c.shutdown();
    }
  });
});
