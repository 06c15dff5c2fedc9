import {
  createConsoleLogger,
  createCoordinator,
  type EventDrivenCoordinator,
  type RecordedEvent,
  silentLogger,
} from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ATTR,
  createOpenTelemetryInstrumentation,
  eventContext,
  METRIC,
  traceLogFields,
} from '../src/index.js';
import { createHarness, type Harness, parentOf, spanIdOf } from './harness.js';

let h: Harness;
let c: EventDrivenCoordinator | undefined;

afterEach(async () => {
  await c?.shutdown();
  c = undefined;
  await h?.shutdown();
});

async function coordinator(options: Partial<Parameters<typeof createCoordinator>[0]> = {}) {
  c = await createCoordinator({
    store: createMemoryStore(),
    publisher: createInProcPublisher(),
    logger: silentLogger,
    pollIntervalMs: 20,
    instrumentation: [h.instrumentation],
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    ...options,
  });
  return c;
}

const byName = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);

describe('traces', () => {
  it('publish → process → follow-up publish → process: one trace, each span the child of the one before', async () => {
    h = createHarness();
    const lines: Array<Record<string, unknown>> = [];
    const logger = createConsoleLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) });
    const c = await coordinator({ logger });
    const inside: Array<Record<string, string>> = [];
    await c.registerHandler('OrderPlaced', async function reserveStock(event, ctx) {
      inside.push(traceLogFields());
      ctx.logger.info('reserving');
      await ctx.publish({
        eventType: 'StockReserved',
        aggregateId: event.aggregateId,
        aggregateType: 'Stock',
      });
    });
    await c.registerHandler('StockReserved', async function notify() {});
    const placed = await c.publishEvent({
      eventType: 'OrderPlaced',
      aggregateId: 'o1',
      aggregateType: 'Order',
    });
    await c.waitForIdle();

    const spans = h.spans();
    expect(spans.map((s) => s.name).sort()).toEqual([
      'process OrderPlaced',
      'process StockReserved',
      'publish OrderPlaced',
      'publish StockReserved',
    ]);
    const [pubA] = byName(spans, 'publish OrderPlaced');
    const [procA] = byName(spans, 'process OrderPlaced');
    const [pubB] = byName(spans, 'publish StockReserved');
    const [procB] = byName(spans, 'process StockReserved');
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(parentOf(pubA!)).toBeUndefined();
    expect(parentOf(procA!)).toBe(pubA!.spanContext().spanId);
    expect(parentOf(pubB!)).toBe(procA!.spanContext().spanId);
    expect(parentOf(procB!)).toBe(pubB!.spanContext().spanId);
    // The process span also links to the creation context, as the conventions ask.
    expect(procA!.links.map((l) => l.context.spanId)).toEqual([pubA!.spanContext().spanId]);

    // The stored events carry their creation context.
    const [a] = await c.getEventHistory({ eventType: 'OrderPlaced' });
    const [b] = await c.getEventHistory({ eventType: 'StockReserved' });
    expect(spanIdOf(a!.metadata.traceparent)).toBe(pubA!.spanContext().spanId);
    expect(spanIdOf(b!.metadata.traceparent)).toBe(pubB!.spanContext().spanId);

    expect(pubA!.kind).toBe(SpanKind.PRODUCER);
    expect(pubA!.attributes).toMatchObject({
      [ATTR.MESSAGING_SYSTEM]: 'evco',
      [ATTR.MESSAGING_OPERATION_NAME]: 'publish',
      [ATTR.MESSAGING_OPERATION_TYPE]: 'send',
      [ATTR.MESSAGING_DESTINATION_NAME]: 'OrderPlaced',
      [ATTR.MESSAGING_MESSAGE_ID]: placed.eventId,
      [ATTR.AGGREGATE_ID]: 'o1',
      [ATTR.AGGREGATE_TYPE]: 'Order',
      [ATTR.POSITION]: placed.position,
    });
    expect(procA!.kind).toBe(SpanKind.CONSUMER);
    expect(procA!.attributes).toMatchObject({
      [ATTR.MESSAGING_OPERATION_TYPE]: 'process',
      [ATTR.MESSAGING_DESTINATION_NAME]: 'OrderPlaced',
      [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: 'reserveStock',
      [ATTR.MESSAGING_MESSAGE_ID]: placed.eventId,
      [ATTR.MESSAGING_MESSAGE_CONVERSATION_ID]: placed.eventId,
      [ATTR.MESSAGING_CLIENT_ID]: c.id,
      [ATTR.ATTEMPT]: 1,
      [ATTR.REPLAY]: false,
      [ATTR.OUTCOME]: 'handled',
    });
    expect(pubB!.attributes).toMatchObject({
      [ATTR.CAUSATION_ID]: placed.eventId,
      [ATTR.MESSAGING_MESSAGE_CONVERSATION_ID]: placed.eventId,
    });
    expect(procA!.status.code).toBe(SpanStatusCode.UNSET);

    // Inside the attempt, the active span is the process span: for a pino mixin, and context.logger.
    const ids = { trace_id: procA!.spanContext().traceId, span_id: procA!.spanContext().spanId };
    expect(inside).toEqual([{ ...ids, trace_flags: '01' }]);
    expect(lines.find((l) => l.msg === 'reserving')).toMatchObject(ids);
  });

  it('a retried attempt is a span of its own with the failure recorded; both children of the creation span', async () => {
    h = createHarness();
    const c = await coordinator();
    let calls = 0;
    await c.registerHandler('PaymentRequested', async function charge() {
      calls += 1;
      if (calls === 1) throw Object.assign(new Error('gateway timeout'), { code: 'GATEWAY_TIMEOUT' });
    });
    await c.publishEvent({ eventType: 'PaymentRequested', aggregateId: 'p1' });
    await c.waitForIdle();
    const [publish] = byName(h.spans(), 'publish PaymentRequested');
    const attempts = byName(h.spans(), 'process PaymentRequested').sort(
      (x, y) => (x.attributes[ATTR.ATTEMPT] as number) - (y.attributes[ATTR.ATTEMPT] as number),
    );
    expect(attempts).toHaveLength(2);
    for (const s of attempts) expect(parentOf(s)).toBe(publish!.spanContext().spanId);
    const [failed, ok] = attempts as [ReadableSpan, ReadableSpan];
    expect(failed.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'Error: GATEWAY_TIMEOUT: gateway timeout',
    });
    expect(failed.attributes).toMatchObject({
      [ATTR.ATTEMPT]: 1,
      [ATTR.OUTCOME]: 'retry',
      [ATTR.ERROR_TYPE]: 'GATEWAY_TIMEOUT',
    });
    expect(typeof failed.attributes[ATTR.RETRY_DELAY_MS]).toBe('number');
    expect(failed.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([
      ['exception', 'gateway timeout'],
    ]);
    expect(ok.status.code).toBe(SpanStatusCode.UNSET);
    expect(ok.attributes).toMatchObject({ [ATTR.ATTEMPT]: 2, [ATTR.OUTCOME]: 'handled' });
  });

  it('a dead letter says why; a timed-out attempt says so', async () => {
    h = createHarness();
    const c = await coordinator();
    await c.registerHandler('A', async function broken() {
      throw Object.assign(new Error('no'), { retryable: false });
    });
    await c.registerHandler(
      'B',
      (_e, ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
      { name: 'slow', timeoutMs: 30, retry: { maxAttempts: 1 } },
    );
    await c.publishEvents([
      { eventType: 'A', aggregateId: 'x' },
      { eventType: 'B', aggregateId: 'x' },
    ]);
    await c.waitForIdle();
    const [a] = byName(h.spans(), 'process A');
    const [b] = byName(h.spans(), 'process B');
    expect(a!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'dead', [ATTR.DEAD_LETTER_REASON]: 'permanent' });
    expect(b!.attributes).toMatchObject({
      [ATTR.OUTCOME]: 'dead',
      [ATTR.DEAD_LETTER_REASON]: 'exhausted',
      [ATTR.TIMED_OUT]: true,
      [ATTR.ERROR_TYPE]: 'HANDLER_TIMEOUT',
    });
  });

  it('a replayed delivery is marked as replay and stays in the event’s trace', async () => {
    h = createHarness();
    const c = await coordinator();
    await c.registerHandler('Tick', async function count() {});
    const from = new Date(Date.now() - 60_000);
    await c.publishEvent({ eventType: 'Tick', aggregateId: 't' });
    await c.waitForIdle();
    await c.replayEvents({ from, to: new Date(Date.now() + 60_000) });
    await c.waitForIdle();
    const [publish] = byName(h.spans(), 'publish Tick');
    const runs = byName(h.spans(), 'process Tick');
    expect(runs.map((s) => s.attributes[ATTR.REPLAY])).toEqual([false, true]);
    for (const s of runs) {
      expect(s.spanContext().traceId).toBe(publish!.spanContext().traceId);
      expect(parentOf(s)).toBe(publish!.spanContext().spanId);
    }
  });

  it('a traceparent the caller put on an event (or an active span) parents its publish span', async () => {
    h = createHarness();
    const c = await coordinator();
    await c.registerHandler('Seen', async function noop() {});
    const first = await c.publishEvent({ eventType: 'Seen', aggregateId: 's' });
    const [stored] = await c.getEventHistory();
    // A service acting on what it saw, outside any handler: in that event's context...
    await context.with(eventContext(stored!), () => c.publishEvent({ eventType: 'Seen', aggregateId: 's2' }));
    // ...or naming it on the event.
    await c.publishEvent({
      eventType: 'Seen',
      aggregateId: 's3',
      metadata: { traceparent: stored!.metadata.traceparent },
    });
    await c.waitForIdle();
    const publishes = byName(h.spans(), 'publish Seen');
    const root = publishes.find((s) => s.attributes[ATTR.MESSAGING_MESSAGE_ID] === first.eventId)!;
    const children = publishes.filter((s) => s !== root);
    expect(children).toHaveLength(2);
    for (const s of children) {
      expect(parentOf(s)).toBe(root.spanContext().spanId);
      expect(s.spanContext().traceId).toBe(root.spanContext().traceId);
    }
  });

  it('a batch gets one publish span: every event carries it, each attempt is its child', async () => {
    h = createHarness();
    const c = await coordinator();
    await c.registerHandler('Line', async function add() {});
    await c.registerHandler('Mixed', async function mix() {});
    const own = await c.publishEvent({ eventType: 'Line', aggregateId: 'root' });
    const [rootEvent] = await c.getEventHistory();
    await c.publishEvents([
      { eventType: 'Line', aggregateId: 'o1' },
      { eventType: 'Line', aggregateId: 'o1' },
      { eventType: 'Line', aggregateId: 'o1' },
    ]);
    // Several types, one of them naming its own trace: that one keeps a span under its parent.
    await c.publishEvents([
      { eventType: 'Line', aggregateId: 'o2' },
      { eventType: 'Mixed', aggregateId: 'o2' },
      { eventType: 'Line', aggregateId: 'o3', metadata: { traceparent: rootEvent!.metadata.traceparent } },
    ]);
    await c.waitForIdle();
    const spans = h.spans();
    const lineSpans = byName(spans, 'publish Line');
    const root = lineSpans.find((s) => s.attributes[ATTR.MESSAGING_MESSAGE_ID] === own.eventId)!;
    const sameType = lineSpans.find((s) => s.attributes[ATTR.MESSAGING_BATCH_MESSAGE_COUNT] === 3)!;
    expect(sameType.kind).toBe(SpanKind.PRODUCER);
    expect(sameType.attributes[ATTR.MESSAGING_DESTINATION_NAME]).toBe('Line');
    const [mixed] = byName(spans, 'publish');
    expect(mixed!.attributes[ATTR.MESSAGING_BATCH_MESSAGE_COUNT]).toBe(2);
    expect(mixed!.attributes[ATTR.MESSAGING_DESTINATION_NAME]).toBeUndefined();
    const ownParent = lineSpans.find((s) => s !== root && s !== sameType)!;
    expect(parentOf(ownParent)).toBe(root.spanContext().spanId);
    expect(lineSpans).toHaveLength(3);

    const history = await c.getEventHistory();
    const carried = (aggregateId: string) =>
      history.filter((e) => e.aggregateId === aggregateId).map((e) => e.metadata.traceparent);
    expect(new Set(carried('o1'))).toEqual(
      new Set([`00-${sameType.spanContext().traceId}-${sameType.spanContext().spanId}-01`]),
    );
    expect(new Set(carried('o2'))).toEqual(
      new Set([`00-${mixed!.spanContext().traceId}-${mixed!.spanContext().spanId}-01`]),
    );
    const attempts = [...byName(spans, 'process Line'), ...byName(spans, 'process Mixed')];
    const parents = attempts.map((s) => parentOf(s));
    expect(parents.filter((p) => p === sameType.spanContext().spanId)).toHaveLength(3);
    expect(parents.filter((p) => p === mixed!.spanContext().spanId)).toHaveLength(2);
    expect(parents.filter((p) => p === ownParent.spanContext().spanId)).toHaveLength(1);
  });

  it('an unsampled trace records no span, runs handlers in it and carries it unchanged to follow-ups', async () => {
    h = createHarness();
    const lines: Array<Record<string, unknown>> = [];
    const logger = createConsoleLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) });
    const c = await coordinator({ logger });
    const unsampled = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-00`;
    const inside: Array<Record<string, string>> = [];
    await c.registerHandler('Unsampled', async function first(event, ctx) {
      inside.push(traceLogFields());
      ctx.logger.info('in an unsampled trace');
      await ctx.publish({ eventType: 'UnsampledFollowUp', aggregateId: event.aggregateId });
      // Several at once: each keeps the trace it was given.
      await ctx.publishEvents([
        { eventType: 'UnsampledFollowUp', aggregateId: 'b1' },
        { eventType: 'UnsampledFollowUp', aggregateId: 'b2' },
      ]);
    });
    await c.registerHandler('Unsampled', async function second() {});
    await c.registerHandler('UnsampledFollowUp', async function third() {});
    await c.publishEvent({ eventType: 'Unsampled', aggregateId: 'u1', metadata: { traceparent: unsampled } });
    // The same trace again (the parsed parent is reused) and a sampled one after it.
    await c.publishEvent({ eventType: 'Unsampled', aggregateId: 'u2', metadata: { traceparent: unsampled } });
    await c.publishEvent({ eventType: 'Sampled', aggregateId: 's1' });
    await c.waitForIdle();

    expect(h.spans().map((s) => s.name)).toEqual(['publish Sampled']);
    const followUps = await c.getEventHistory({ eventType: 'UnsampledFollowUp' });
    expect(followUps).toHaveLength(6);
    expect(new Set(followUps.map((e) => e.metadata.traceparent))).toEqual(new Set([unsampled]));
    const ids = { trace_id: 'ab'.repeat(16), span_id: 'cd'.repeat(8), trace_flags: '00' };
    expect(inside).toEqual([ids, ids]);
    expect(lines.filter((l) => l.msg === 'in an unsampled trace')).toEqual([
      expect.objectContaining(ids),
      expect.objectContaining(ids),
    ]);
    // Metrics do not depend on sampling.
    expect(await h.count(METRIC.HANDLED)).toBe(2 + 2 + 6);
  });

  it('events published while an unsampled span is active carry its trace context, with no span', async () => {
    h = createHarness();
    const c = await coordinator();
    const parent = { traceId: 'ef'.repeat(16), spanId: '12'.repeat(8), traceFlags: TraceFlags.NONE };
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, parent);
    await context.with(unsampled, async () => {
      await c.publishEvent({ eventType: 'Quiet', aggregateId: 'one' });
      await c.publishEvents([
        { eventType: 'Quiet', aggregateId: 'two' },
        { eventType: 'Loud', aggregateId: 'three' },
      ]);
    });
    const history = await c.getEventHistory();
    expect(history.map((e) => e.metadata.traceparent)).toEqual(
      Array(3).fill(`00-${parent.traceId}-${parent.spanId}-00`),
    );
    expect(h.spans()).toEqual([]);
  });

  it('records a failed publish on its span', async () => {
    h = createHarness();
    const c = await coordinator();
    await c.publishEvent({ eventType: 'Once', aggregateId: 'x', id: '0190a3b4-0000-7000-8000-000000000001' });
    await expect(
      c.publishEvent({ eventType: 'Once', aggregateId: 'x', id: '0190a3b4-0000-7000-8000-000000000001' }),
    ).rejects.toMatchObject({ code: 'DUPLICATE_EVENT' });
    const failed = byName(h.spans(), 'publish Once').filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(failed.map((s) => s.attributes[ATTR.ERROR_TYPE])).toEqual(['DUPLICATE_EVENT']);
  });
});

describe('without an SDK (API only)', () => {
  it('adds nothing to events and changes nothing in delivery', async () => {
    h = createHarness();
    c = await createCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      // The global providers: nothing registered in this test process.
      instrumentation: [createOpenTelemetryInstrumentation()],
    });
    const seen: RecordedEvent[] = [];
    await c.registerHandler('Plain', async function keep(e, ctx) {
      seen.push(e);
      expect(trace.getActiveSpan()?.isRecording() ?? false).toBe(false);
      if (e.aggregateId === 'first') await ctx.publish({ eventType: 'Plain', aggregateId: 'second' });
    });
    await c.publishEvent({ eventType: 'Plain', aggregateId: 'first' });
    await c.waitForIdle();
    expect(seen.map((e) => [e.aggregateId, e.metadata.traceparent])).toEqual([
      ['first', undefined],
      ['second', undefined],
    ]);
    expect(h.spans()).toEqual([]);
  });

  it('opens no attempt scope and keeps no tallies: the delivery path is as without it', async () => {
    h = createHarness();
    const instrumentation = createOpenTelemetryInstrumentation();
    instrumentation.start?.({
      id: 'c1',
      storeName: 'memory',
      stats: async () => {
        throw new Error('no gauge may read the store without an SDK');
      },
      handlerNames: () => [],
    });
    const event = {
      id: '018f0000-0000-7000-8000-000000000000',
      eventType: 'Plain',
      aggregateId: 'a',
      metadata: {},
    } as unknown as RecordedEvent;
    const start = {
      event,
      handler: 'keep',
      deliveryId: 'd1',
      attempt: 1,
      maxAttempts: 5,
      isReplay: false,
      consumerId: 'c1',
    };
    expect(instrumentation.delivery?.(start)).toBeUndefined();
    // With a meter provider that records, the same call opens a scope (it counts the attempt).
    const withMetrics = createOpenTelemetryInstrumentation({ meterProvider: h.meterProvider, traces: false });
    withMetrics.start?.({
      id: 'c1',
      storeName: 'memory',
      stats: async () => ({ handlers: [] }) as never,
      handlerNames: () => [],
    });
    expect(withMetrics.delivery?.(start)).toBeDefined();
    withMetrics.stop?.();
  });

  it('rejects bad options listing every problem', () => {
    expect(() =>
      createOpenTelemetryInstrumentation({ statsIntervalMs: -1, tracerProvider: {} as never }),
    ).toThrow(/statsIntervalMs[\s\S]*tracerProvider|tracerProvider[\s\S]*statsIntervalMs/);
  });
});
