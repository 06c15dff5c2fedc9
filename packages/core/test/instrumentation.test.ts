import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import {
  createConsoleLogger,
  createDomainEvent,
  type DeliveryOutcome,
  type DeliveryStart,
  type Instrumentation,
  type PublishOutcome,
  type RecordedEvent,
  type ReplayInfo,
} from '../src/index.js';
import { memoryCoordinator } from './support.js';

const fast = { baseDelayMs: 1, maxDelayMs: 2 };

/** An instrumentation that records every hook call, with a span-like id per attempt. */
function recorder() {
  const attempts: Array<{ start: DeliveryStart; outcome?: DeliveryOutcome; scope: string }> = [];
  const publishes: Array<{ causedBy?: string; outcome?: PublishOutcome; inputs: number }> = [];
  const replays: ReplayInfo[] = [];
  const als = new AsyncLocalStorage<string>();
  let started = 0;
  let stopped = 0;
  const instrumentation: Instrumentation = {
    name: 'recorder',
    start: () => {
      started += 1;
    },
    stop: () => {
      stopped += 1;
    },
    publish(start) {
      const entry: (typeof publishes)[number] = {
        causedBy: start.causedBy?.id,
        inputs: start.inputs.length,
      };
      publishes.push(entry);
      return {
        // What a tracer does: the producer span's context, here the inherited scope + index.
        metadata: (index, metadata) => ({ traceparent: traceparent(`${metadata.scope ?? 'root'}/${index}`) }),
        end: (outcome) => {
          entry.outcome = outcome;
        },
      };
    },
    delivery(start) {
      const scope = `${start.handler}#${start.attempt}`;
      const entry: (typeof attempts)[number] = { start, scope };
      attempts.push(entry);
      return {
        run: (fn) => als.run(scope, fn),
        metadata: { scope },
        logBindings: { scope },
        end: (outcome) => {
          entry.outcome = outcome;
        },
      };
    },
    replay: (info) => {
      replays.push(info);
    },
  };
  return {
    instrumentation,
    attempts,
    publishes,
    replays,
    als,
    counts: () => ({ started, stopped }),
  };
}

/** A valid W3C traceparent whose span id encodes `label` (so tests can tell them apart). */
function traceparent(label: string): string {
  const hex = Buffer.from(label).toString('hex').padEnd(16, '0').slice(0, 16);
  return `00-${'a'.repeat(32)}-${hex}-01`;
}

describe('instrumentation hooks', () => {
  it('run around the handler, see every outcome, and reach follow-ups and the handler logger', async () => {
    const r = recorder();
    const lines: Array<Record<string, unknown>> = [];
    const logger = createConsoleLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) });
    let random = 0.5;
    const c = await memoryCoordinator({
      instrumentation: [r.instrumentation],
      retry: { maxAttempts: 3, baseDelayMs: 40, maxDelayMs: 40 },
      random: () => random,
      logger,
    });
    expect(r.counts()).toEqual({ started: 1, stopped: 0 });
    const seenInside: Array<string | undefined> = [];
    let failures = 1;
    await c.registerHandler('OrderPlaced', async function ship(event, ctx) {
      seenInside.push(r.als.getStore());
      if (failures-- > 0) throw new Error('carrier down');
      ctx.logger.info('shipping');
      await ctx.publish({ eventType: 'OrderShipped', aggregateId: event.aggregateId });
    });
    const order = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o1' });
    await c.waitForIdle();
    random = 0;

    // The handler ran inside its attempt's scope, twice (a failure, then a success).
    expect(seenInside).toEqual(['ship#1', 'ship#2']);
    expect(
      r.attempts.map((a) => [a.scope, a.start.event.id, a.start.maxAttempts, a.outcome?.status]),
    ).toEqual([
      ['ship#1', order.eventId, 3, 'retry'],
      ['ship#2', order.eventId, 3, 'handled'],
    ]);
    const retry = r.attempts[0]!.outcome as Extract<DeliveryOutcome, { status: 'retry' }>;
    expect(retry.retryInMs).toBe(20); // random 0.5 × 40 ms
    expect(retry.errorMessage).toBe('Error: carrier down');
    expect(retry.timedOut).toBe(false);
    expect(retry.durationMs).toBeGreaterThanOrEqual(0);

    // The follow-up carries the attempt's metadata into the publish hook, which injected its own.
    const [shipped] = await c.getEventHistory({ eventType: 'OrderShipped' });
    expect(shipped!.metadata).toMatchObject({
      scope: 'ship#2',
      traceparent: traceparent('ship#2/0'),
      causationId: order.eventId,
      correlationId: order.eventId,
    });
    const [placed] = await c.getEventHistory({ eventType: 'OrderPlaced' });
    expect(placed!.metadata.traceparent).toBe(traceparent('root/0'));
    expect(r.publishes.map((p) => [p.causedBy, p.outcome?.events?.map((e) => e.eventType)])).toEqual([
      [undefined, ['OrderPlaced']],
      [order.eventId, ['OrderShipped']],
    ]);

    // Failures are visible at the default level, with the scope's bindings; so is the handler's line.
    const warn = lines.find((l) => l.msg === 'handler failed; retry scheduled');
    expect(warn).toMatchObject({
      level: 40,
      scope: 'ship#1',
      handler: 'ship',
      eventId: order.eventId,
      eventType: 'OrderPlaced',
      attempt: 1,
      maxAttempts: 3,
      error: 'Error: carrier down',
      retryInMs: 20,
    });
    expect(lines.find((l) => l.msg === 'shipping')).toMatchObject({ scope: 'ship#2', handler: 'ship' });
    await c.shutdown();
    expect(r.counts()).toEqual({ started: 1, stopped: 1 });
  });

  it('report dead letters (exhausted, permanent, timed out) and log them at error', async () => {
    const r = recorder();
    const lines: Array<Record<string, unknown>> = [];
    const logger = createConsoleLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) });
    const c = await memoryCoordinator({
      instrumentation: [r.instrumentation],
      retry: { maxAttempts: 2, ...fast },
      logger,
    });
    await c.registerHandler('A', async function always() {
      throw new Error('broken');
    });
    await c.registerHandler('B', async function refuse() {
      throw Object.assign(new Error('bad input'), { retryable: false });
    });
    await c.registerHandler(
      'C',
      (_e, ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
      {
        name: 'hang',
        timeoutMs: 30,
        retry: { maxAttempts: 1 },
      },
    );
    await c.publishEvents([
      { eventType: 'A', aggregateId: 'x' },
      { eventType: 'B', aggregateId: 'x' },
      { eventType: 'C', aggregateId: 'x' },
    ]);
    await c.waitForIdle();
    const outcomes = Object.fromEntries(r.attempts.map((a) => [a.scope, a.outcome])) as Record<
      string,
      Extract<DeliveryOutcome, { status: 'dead' | 'retry' }>
    >;
    expect(outcomes['always#1']).toMatchObject({ status: 'retry' });
    expect(outcomes['always#2']).toMatchObject({ status: 'dead', reason: 'exhausted', timedOut: false });
    expect(outcomes['refuse#1']).toMatchObject({ status: 'dead', reason: 'permanent' });
    expect(outcomes['hang#1']).toMatchObject({ status: 'dead', reason: 'exhausted', timedOut: true });
    const dead = lines.filter((l) => l.msg === 'dead letter: handler failed for the last time');
    expect(dead.map((l) => [l.level, l.handler, l.reason]).sort()).toEqual([
      [50, 'always', 'exhausted'],
      [50, 'hang', 'exhausted'],
      [50, 'refuse', 'permanent'],
    ]);
    await c.shutdown();
  });

  it('marks replayed attempts and reports the replay', async () => {
    const r = recorder();
    const c = await memoryCoordinator({ instrumentation: [r.instrumentation] });
    await c.registerHandler('Tick', async function count() {});
    const from = new Date(Date.now() - 1000);
    await c.publishEvent({ eventType: 'Tick', aggregateId: 't' });
    await c.waitForIdle();
    const replay = await c.replayEvents({ from, to: new Date(Date.now() + 1000) });
    await c.waitForIdle();
    expect(r.attempts.map((a) => [a.start.isReplay, a.outcome?.status])).toEqual([
      [false, 'handled'],
      [true, 'handled'],
    ]);
    expect(r.replays).toEqual([
      { replayId: replay.replayId, events: 1, deliveries: 1, truncated: false, resumed: false },
    ]);
    await c.shutdown();
  });

  it('end a failed publish with its error and store nothing', async () => {
    const r = recorder();
    const c = await memoryCoordinator({ instrumentation: [r.instrumentation] });
    await expect(c.publishEvent({ eventType: 'bad type!', aggregateId: 'x' })).rejects.toMatchObject({
      code: 'EVENT_VALIDATION',
    });
    expect(r.publishes).toHaveLength(1);
    expect(r.publishes[0]!.outcome?.error).toMatchObject({ code: 'EVENT_VALIDATION' });
    expect(await c.getEventHistory()).toEqual([]);
    await c.shutdown();
  });

  it('checks what a batch publish scope adds on every event, not only on the first', async () => {
    // A batch span's context on every event (checked once), then a different, malformed value.
    const shared = traceparent('batch');
    const added = ['tp', 'tp', 'bad', 'tp', 'tp-other'];
    const c = await memoryCoordinator({
      instrumentation: [
        {
          name: 'batch',
          publish: () => ({
            metadata: (index) => {
              const value = added[index];
              if (value === 'tp') return { traceparent: shared };
              return { traceparent: value === 'bad' ? 'not-a-traceparent' : traceparent('other') };
            },
            end: () => {},
          }),
        },
      ],
    });
    const batch = added.map((_, i) => ({ eventType: 'Y', aggregateId: `a${i}` }));
    await expect(c.publishEvents(batch)).rejects.toMatchObject({
      code: 'EVENT_VALIDATION',
      issues: [{ path: '[2].metadata.traceparent', message: 'must be a W3C traceparent' }],
    });
    expect(await c.getEventHistory()).toEqual([]);
    added[2] = 'tp';
    await c.publishEvents(batch);
    const stored = await c.getEventHistory({ eventType: 'Y' });
    expect(stored.map((e) => [e.aggregateId, e.metadata.traceparent])).toEqual([
      ['a0', shared],
      ['a1', shared],
      ['a2', shared],
      ['a3', shared],
      ['a4', traceparent('other')],
    ]);
    await c.shutdown();
  });

  it('a throwing hook is logged and ignored: events still flow', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createConsoleLogger({ level: 'warn', write: (l) => lines.push(JSON.parse(l)) });
    const c = await memoryCoordinator({
      logger,
      instrumentation: [
        {
          name: 'broken',
          publish: () => {
            throw new Error('publish hook');
          },
          delivery: () => ({
            end: () => {
              throw new Error('end hook');
            },
          }),
        },
      ],
    });
    const handled: string[] = [];
    await c.registerHandler('X', async function h(e) {
      handled.push(e.id);
    });
    const { eventId } = await c.publishEvent({ eventType: 'X', aggregateId: 'x' });
    await c.waitForIdle();
    expect(handled).toEqual([eventId]);
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['instrumentation publish hook threw', 'instrumentation hook threw']),
    );
    await c.shutdown();
  });

  it('a hook that declines (returns undefined) leaves the attempt and the publish untouched', async () => {
    let asked = 0;
    const c = await memoryCoordinator({
      instrumentation: [
        {
          name: 'idle',
          publish: () => {
            asked += 1;
            return undefined;
          },
          delivery: () => {
            asked += 1;
            return undefined;
          },
        },
      ],
    });
    const seen: RecordedEvent[] = [];
    await c.registerHandler('Y', async function h(e, ctx) {
      seen.push(e);
      if (e.aggregateId === 'first') await ctx.publish({ eventType: 'Y', aggregateId: 'second' });
    });
    const input = createDomainEvent({ eventType: 'Y', aggregateId: 'first', metadata: { tenant: 't1' } });
    await c.publishEvent(input);
    await c.waitForIdle();
    // Both publishes and both attempts asked; nothing was added to any event.
    expect(asked).toBe(4);
    expect(seen.map((e) => [e.aggregateId, e.metadata])).toEqual([
      ['first', input.metadata],
      ['second', { schemaVersion: 1, correlationId: input.id, causationId: input.id }],
    ]);
    await c.shutdown();
  });

  it('reads a scope’s metadata and log bindings only when the handler publishes or logs', async () => {
    const reads = { metadata: 0, logBindings: 0 };
    const lines: Array<Record<string, unknown>> = [];
    const logger = createConsoleLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) });
    const c = await memoryCoordinator({
      logger,
      instrumentation: [
        {
          name: 'lazy',
          delivery: (start) => ({
            get metadata() {
              reads.metadata += 1;
              return { scope: start.event.aggregateId };
            },
            get logBindings() {
              reads.logBindings += 1;
              return { scope: start.event.aggregateId };
            },
            end: () => {},
          }),
        },
        {
          name: 'broken getter',
          delivery: () => ({
            get metadata(): Record<string, string> {
              throw new Error('metadata getter');
            },
            end: () => {},
          }),
        },
      ],
    });
    await c.registerHandler('Quiet', async function quiet() {});
    await c.registerHandler('Chatty', async function chatty(e, ctx) {
      ctx.logger.info('chatting');
      await ctx.publish({ eventType: 'Said', aggregateId: e.aggregateId });
    });
    await c.publishEvent({ eventType: 'Quiet', aggregateId: 'q' });
    await c.waitForIdle();
    expect(reads).toEqual({ metadata: 0, logBindings: 0 });

    await c.publishEvent({ eventType: 'Chatty', aggregateId: 'c' });
    await c.waitForIdle();
    expect(reads).toEqual({ metadata: 1, logBindings: 1 });
    const [said] = await c.getEventHistory({ eventType: 'Said' });
    // The throwing getter is logged and left out; the other scope's metadata still reaches the follow-up.
    expect(said!.metadata.scope).toBe('c');
    expect(lines.find((l) => l.msg === 'chatting')).toMatchObject({ scope: 'c', handler: 'chatty' });
    expect(lines.map((l) => l.msg)).toContain('instrumentation hook threw');
    await c.shutdown();
  });
});

describe('metadata of handler publishes', () => {
  it('copies the propagateMetadata keys from the handled event; the follow-up’s own values win', async () => {
    const c = await memoryCoordinator({ propagateMetadata: ['tenantId', 'locale', 'causationId'] });
    let resolveDone: (e: RecordedEvent[]) => void;
    const done = new Promise<RecordedEvent[]>((resolve) => {
      resolveDone = resolve;
    });
    await c.registerHandler('Signup', async function welcome(_e, ctx) {
      await ctx.publishEvents([
        { eventType: 'Welcome', aggregateId: 'w1' },
        { eventType: 'Welcome', aggregateId: 'w2', metadata: { locale: 'fr' } },
      ]);
      resolveDone(await c.getEventHistory({ eventType: 'Welcome' }));
    });
    const signup = createDomainEvent({
      eventType: 'Signup',
      aggregateId: 's',
      metadata: { tenantId: 'acme', locale: 'en', secret: 'not copied' },
    });
    await c.publishEvent(signup);
    const welcomes = await done;
    expect(welcomes.map((e) => e.metadata)).toEqual([
      { schemaVersion: 1, tenantId: 'acme', locale: 'en', correlationId: signup.id, causationId: signup.id },
      { schemaVersion: 1, tenantId: 'acme', locale: 'fr', correlationId: signup.id, causationId: signup.id },
    ]);
    await c.shutdown();
  });

  it('rejects bad propagateMetadata keys before anything starts', async () => {
    await expect(
      memoryCoordinator({ propagateMetadata: ['ok', 'no spaces', '__proto__'] }),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      issues: [
        { path: 'propagateMetadata.1', message: 'may only contain letters, digits and _ . : -' },
        { path: 'propagateMetadata.2', message: 'is not allowed' },
      ],
    });
  });
});
