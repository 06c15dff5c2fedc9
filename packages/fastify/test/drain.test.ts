import { createCoordinator } from '@evco/core';
import Fastify from 'fastify';
import inject from 'light-my-request';
import { describe, expect, it, vi } from 'vitest';
import { evcoPlugin } from '../src/plugin.js';
import { coordinatorOptions } from './helpers.js';

/** A handler that runs until released, to hold the drain open. */
async function slowApp(fastifyOptions: { return503OnClosing?: boolean } = {}) {
  const coordinator = await createCoordinator(coordinatorOptions());
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started!: () => void;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const finished: string[] = [];
  await coordinator.registerHandler('ReportRequested', async function buildReport(event) {
    started();
    await gate;
    finished.push(event.aggregateId);
  });
  const app = Fastify({ logger: false, ...fastifyOptions });
  await app.register(evcoPlugin, { coordinator, shutdownTimeoutMs: 30_000 });
  await app.ready();
  return { app, coordinator, release, running, finished };
}

describe('drain on close', () => {
  it('turns readiness to 503 while in-flight handlers finish, then closes the coordinator', async () => {
    const { app, coordinator, release, running, finished } = await slowApp({ return503OnClosing: false });
    await coordinator.publishEvent({ eventType: 'ReportRequested', aggregateId: 'r-1', eventData: {} });
    await running;
    expect((await app.inject('/evco/health/ready')).statusCode).toBe(200);

    const closed = app.close();
    await vi.waitFor(() => expect(coordinator.state).toBe('stopping'));
    // A request still arriving on an open connection goes through the router as usual
    // (`app.inject` refuses to run once close() began, so the router is called directly).
    const ready = await inject(app.routing, { url: '/evco/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ error: { code: 'SHUTTING_DOWN' } });
    expect(ready.headers['retry-after']).toBe('5');
    const history = await inject(app.routing, { url: '/evco/events' });
    expect(history.statusCode).toBe(503);
    expect(finished).toEqual([]);

    release();
    await closed;
    expect(finished).toEqual(['r-1']);
    expect(coordinator.state).toBe('stopped');
  });

  it("with Fastify's default return503OnClosing, requests during the drain get Fastify's 503", async () => {
    const { app, coordinator, release, running } = await slowApp();
    await coordinator.publishEvent({ eventType: 'ReportRequested', aggregateId: 'r-2', eventData: {} });
    await running;
    const closed = app.close();
    await vi.waitFor(() => expect(coordinator.state).toBe('stopping'));
    expect((await inject(app.routing, { url: '/evco/health/ready' })).statusCode).toBe(503);
    release();
    await closed;
    expect(coordinator.state).toBe('stopped');
  });
});
