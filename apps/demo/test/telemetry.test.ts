/**
 * The demo's telemetry: the cross-module story is one trace whose span tree mirrors causation,
 * and `/metrics` shows evco's counters moving as events flow.
 */
import { createCoordinator, type RecordedEvent, silentLogger } from '@evco/core';
import { ATTR, METRIC } from '@evco/opentelemetry';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, createLogger } from '../src/app.js';
import { composeDemo } from '../src/compose.js';
import { loadConfig } from '../src/config.js';
import { createModules, registerAllModules } from '../src/modules.js';
import { createDemoTelemetry, type DemoTelemetry } from '../src/telemetry.js';
import { userRegistered } from './helpers.js';
import { assertReplayChangesNothing, assertStory, runCrossModuleStory } from './story.js';

const spans = new InMemorySpanExporter();
let telemetry: DemoTelemetry;

beforeAll(async () => {
  // One SDK per test process (it registers the global context manager and propagator).
  telemetry = await createDemoTelemetry(
    {},
    { spanProcessors: [new SimpleSpanProcessor(spans)], statsIntervalMs: 0 },
  );
});

afterAll(async () => {
  await telemetry.shutdown();
});

const spanIdOf = (traceparent: unknown) =>
  typeof traceparent === 'string' ? traceparent.split('-')[2] : undefined;

describe('log lines join their trace', () => {
  it('a line logged inside a span carries its trace_id and span_id; one outside carries none', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const { Writable } = await import('node:stream');
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const logger = createLogger(loadConfig({ EVCO_LOG_LEVEL: 'info', EVCO_LOG_FORMAT: 'json' }), stream);
    const span = trace.getTracer('test').startSpan('work');
    context.with(trace.setSpan(context.active(), span), () => logger.info('inside'));
    span.end();
    logger.info('outside');
    await new Promise((r) => setImmediate(r));
    const inside = lines.find((l) => l.msg === 'inside')!;
    expect(inside.trace_id).toBe(span.spanContext().traceId);
    expect(inside.span_id).toBe(span.spanContext().spanId);
    expect(inside.trace_flags).toBe('01');
    expect(lines.find((l) => l.msg === 'outside')).not.toHaveProperty('trace_id');
  });
});

describe('the cross-module story, traced', () => {
  it('is one trace whose span tree mirrors the causation chain, replay included', async () => {
    spans.reset();
    const coordinator = await createCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      pollIntervalMs: 20,
      instrumentation: [telemetry.instrumentation],
    });
    try {
      const deps = createModules();
      await registerAllModules(coordinator, deps, {
        retry: { maxAttempts: 20, baseDelayMs: 1, maxDelayMs: 5 },
      });
      const story = await runCrossModuleStory(coordinator, deps);
      await assertStory(coordinator, deps, story);
      await assertReplayChangesNothing(coordinator, deps, story);

      const all = spans.getFinishedSpans();
      const byId = new Map(all.map((s) => [s.spanContext().spanId, s]));
      const parent = (s: ReadableSpan) =>
        s.parentSpanContext ? byId.get(s.parentSpanContext.spanId) : undefined;
      const ancestors = (s: ReadableSpan) => {
        const out: ReadableSpan[] = [];
        for (let p = parent(s); p; p = parent(p)) out.push(p);
        return out;
      };
      // The span that stored each event (a stored publish has a position).
      const stored = (e: RecordedEvent) => {
        const found = all.filter(
          (s) =>
            s.name.startsWith('publish ') &&
            s.attributes[ATTR.MESSAGING_MESSAGE_ID] === e.id &&
            s.attributes[ATTR.POSITION] !== undefined,
        );
        expect(
          found.map((s) => s.name),
          `publish span of ${e.eventType}`,
        ).toEqual([`publish ${e.eventType}`]);
        return found[0]!;
      };

      // One trace: every span of the story, every attempt and every replay.
      const root = stored(story.events[0]!);
      expect(parent(root)).toBeUndefined();
      expect(new Set(all.map((s) => s.spanContext().traceId))).toEqual(new Set([root.spanContext().traceId]));

      const byEventId = new Map(story.events.map((e) => [e.id, e]));
      for (const e of story.events) {
        const publish = stored(e);
        // The event carries its publish span as its creation context...
        expect(spanIdOf(e.metadata.traceparent), e.eventType).toBe(publish.spanContext().spanId);
        // ...and every attempt at it hangs off that span.
        const attempts = all.filter(
          (s) => s.name === `process ${e.eventType}` && s.attributes[ATTR.MESSAGING_MESSAGE_ID] === e.id,
        );
        for (const a of attempts) expect(parent(a)).toBe(publish);
        const causeId = e.metadata.causationId;
        if (causeId === undefined) continue;
        // Its cause's publish span is an ancestor: the tree mirrors causation.
        const cause = stored(byEventId.get(causeId)!);
        expect(ancestors(publish), `${e.eventType} under its cause`).toContain(cause);
        const direct = parent(publish)!;
        if (story.actorCauses[e.id]) {
          // An actor acted on what it saw: directly under the cause's publish span.
          expect(direct).toBe(cause);
        } else {
          // A handler's reaction: under the attempt that handled the cause.
          expect(direct.name).toBe(`process ${byEventId.get(causeId)!.eventType}`);
          expect(direct.attributes[ATTR.MESSAGING_MESSAGE_ID]).toBe(causeId);
        }
      }

      // The metering hiccup: a failed attempt recorded as its own span, retried.
      const failed = all.filter((s) => s.attributes[ATTR.OUTCOME] === 'retry');
      expect(failed.length).toBeGreaterThanOrEqual(1);
      expect(failed.every((s) => s.status.code === 2 && s.events.some((x) => x.name === 'exception'))).toBe(
        true,
      );
      // The replay: every story event delivered again, marked.
      const replayed = new Set(
        all
          .filter((s) => s.attributes[ATTR.REPLAY] === true)
          .map((s) => s.attributes[ATTR.MESSAGING_MESSAGE_ID]),
      );
      const handled = all.filter((s) => s.name.startsWith('process ') && s.attributes[ATTR.REPLAY] === false);
      expect(handled.length).toBeGreaterThanOrEqual(story.events.length);
      for (const s of handled) expect(replayed.has(s.attributes[ATTR.MESSAGING_MESSAGE_ID])).toBe(true);
    } finally {
      await coordinator.shutdown();
    }
  });
});

describe('GET /metrics', () => {
  it('shows evco counters and histograms moving as events flow, in Prometheus text', async () => {
    const config = loadConfig({ EVCO_LOG_LEVEL: 'silent' });
    const app = await buildApp({
      config,
      logger: createLogger(config),
      createCoordinator: async (logger) =>
        (
          await composeDemo({
            store: createMemoryStore(),
            publisher: createInProcPublisher(),
            logger,
            pollIntervalMs: 20,
            instrumentation: [telemetry.instrumentation],
          })
        ).coordinator,
    });
    telemetry.mount(app);
    try {
      await app.ready();
      const scrape = async () => {
        const res = await app.inject({ method: 'GET', url: '/metrics' });
        expect(res.statusCode).toBe(200);
        return res.body;
      };
      const value = (text: string, name: string, labels: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
        return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
      };
      const before = await scrape();
      const publish = async () => {
        const res = await app.inject({ method: 'POST', url: '/evco/events', payload: userRegistered() });
        expect(res.statusCode).toBe(201);
      };
      await publish();
      const waitForHandled = async (n: number) => {
        for (let i = 0; i < 500; i++) {
          const text = await scrape();
          if (value(text, 'evco_deliveries_handled_total', '"user.recordRegistration"') >= n) return text;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error('handled counter did not move');
      };
      const once = await waitForHandled(
        value(before, 'evco_deliveries_handled_total', '"user.recordRegistration"') + 1,
      );
      const published = value(
        once,
        'evco_events_published_total',
        'messaging_destination_name="UserRegistered"',
      );
      expect(published).toBeGreaterThanOrEqual(1);
      expect(once).toContain('# TYPE evco_handler_duration histogram');
      expect(once).toMatch(
        /evco_handler_duration_bucket\{[^}]*messaging_consumer_group_name="user.recordRegistration"/,
      );
      expect(once).toMatch(
        /evco_deliveries_pending\{messaging_consumer_group_name="user.recordRegistration"[^}]*\} \d+/,
      );
      await publish();
      const twice = await waitForHandled(
        value(once, 'evco_deliveries_handled_total', '"user.recordRegistration"') + 1,
      );
      expect(value(twice, 'evco_events_published_total', 'messaging_destination_name="UserRegistered"')).toBe(
        published + 1,
      );
      expect(METRIC.HANDLED.replaceAll('.', '_')).toBe('evco_deliveries_handled');
    } finally {
      await app.close();
    }
  });
});
