import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { evcoPlugin } from '../src/plugin.js';
import { coordinatorOptions, startApp } from './helpers.js';

const apps: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

describe('lifecycle', () => {
  it('creates the coordinator from its options when the app starts, decorates the app, drains on close', async () => {
    const app = Fastify({ logger: false });
    await app.register(evcoPlugin, { coordinator: coordinatorOptions() });
    await app.ready();
    expect(app.evco.state).toBe('running');
    await app.close();
    expect(app.evco.state).toBe('stopped');
  });

  it('calls a factory with the app logger and shuts its coordinator down on close', async () => {
    const app = Fastify({ logger: false });
    let gotLogger = false;
    await app.register(evcoPlugin, {
      coordinator: async ({ logger }) => {
        gotLogger = typeof logger.info === 'function';
        const { createCoordinator } = await import('@evco/core');
        return createCoordinator(coordinatorOptions());
      },
    });
    await app.ready();
    expect(gotLogger).toBe(true);
    await app.close();
    expect(app.evco.state).toBe('stopped');
  });

  it('rejects bad options at registration, listing every problem', async () => {
    const app = Fastify({ logger: false });
    apps.push(app);
    await expect(
      app.register(evcoPlugin, {
        coordinator: coordinatorOptions(),
        prefix: 'evco/',
        readyTimeoutMs: -1,
        extra: true,
      } as never),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringMatching(/^\[evco:fastify\] invalid evco plugin options: prefix: /),
      issues: [
        { path: 'prefix', message: expect.any(String) },
        { path: 'readyTimeoutMs', message: expect.any(String) },
        { path: 'extra', message: 'unknown field' },
      ],
    });
  });

  it('protectReads without auth fails closed and says so once at registration, not per request only', async () => {
    // The audit found it silent: reads closed to everyone with nothing in the log. It still boots
    // (an unset admin token must not take the service down) and keeps event data private.
    for (const options of [{ protectReads: true }, { protectReads: true, auth: undefined }]) {
      const lines: Array<{ level: number; msg: string; protectReads?: boolean }> = [];
      const stream = { write: (line: string) => lines.push(JSON.parse(line)) };
      const app = Fastify({ logger: { level: 'info', stream } });
      apps.push(app);
      await app.register(evcoPlugin, { coordinator: coordinatorOptions(), ...options });
      await app.ready();
      const warnings = lines.filter((l) => l.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ protectReads: true });
      expect(warnings[0]!.msg).toMatch(
        /^protectReads is on without auth: .*404 ADMIN_DISABLED to everyone; pass auth/,
      );
      const read = await app.inject('/evco/events');
      expect(read.statusCode).toBe(404);
      expect(read.json()).toMatchObject({ error: { code: 'ADMIN_DISABLED' } });
      // The public status predicts it, so the dashboard can explain the shut reads.
      const status = await app.inject('/evco/status');
      expect(status.statusCode).toBe(200);
      expect(status.json()).toMatchObject({ adminRoutes: { enabled: false } });
    }
    // With auth, or without protectReads, nothing is said.
    for (const options of [{ protectReads: true, auth: () => true }, { protectReads: false }]) {
      const lines: Array<{ level: number }> = [];
      const app = Fastify({
        logger: { level: 'info', stream: { write: (l: string) => lines.push(JSON.parse(l)) } },
      });
      apps.push(app);
      await app.register(evcoPlugin, { coordinator: coordinatorOptions(), ...options });
      await app.ready();
      expect(lines.filter((l) => l.level === 40)).toEqual([]);
      expect((await app.inject('/evco/events')).statusCode).toBe(200);
    }
  });

  it('refuses publish.eventTypes entries that are not defineEvent contracts, before the coordinator is created', async () => {
    // Before, ['UserRegistered'] (names instead of contracts) was accepted, and every publish of
    // that type was a 500 FST_ERR_RESPONSE_SERIALIZATION outside evco's error shape.
    const app = Fastify({ logger: false });
    apps.push(app);
    let created = 0;
    await expect(
      app.register(evcoPlugin, {
        coordinator: async () => {
          created++;
          const { createCoordinator } = await import('@evco/core');
          return createCoordinator(coordinatorOptions());
        },
        publish: { eventTypes: { users: ['UserRegistered', { eventType: 'UserDeleted' }] } },
      } as never),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      issues: [
        {
          path: 'publish.eventTypes.users.0',
          message: expect.stringMatching(/^must be an event contract from defineEvent/),
        },
        {
          path: 'publish.eventTypes.users.1',
          message: expect.stringMatching(/^must be an event contract from defineEvent/),
        },
      ],
    });
    expect(created).toBe(0);
  });

  it('answers live and ready under the prefix', async () => {
    const { app } = await startApp({ prefix: '/ops/evco' });
    apps.push(app);
    expect((await app.inject('/ops/evco/health/live')).json()).toEqual({ status: 'ok' });
    const ready = await app.inject('/ops/evco/health/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', store: { name: 'memory' } });
  });
});

describe('dashboard', () => {
  it('serves a placeholder page saying how to build the dashboard when its assets are missing', async () => {
    const { app } = await startApp({ dashboard: { root: '/nonexistent/evco-dashboard' } });
    apps.push(app);
    const page = await app.inject('/evco/dashboard/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['x-evco-dashboard']).toBe('placeholder');
    expect(page.body).toContain('pnpm --filter @evco/fastify build');
    const bare = await app.inject('/evco/dashboard');
    expect([bare.statusCode, bare.headers.location]).toEqual([302, '/evco/dashboard/']);
  });

  it('serves the built assets under {prefix}/dashboard/, same-origin only', async () => {
    const root = mkdtempSync(join(tmpdir(), 'evco-dashboard-'));
    mkdirSync(join(root, 'assets'));
    writeFileSync(
      join(root, 'index.html'),
      '<!doctype html><title>evco</title><script src="assets/app.js"></script>',
    );
    writeFileSync(join(root, 'assets', 'app.js'), 'console.log("evco");');
    const { app } = await startApp({ dashboard: { root } });
    apps.push(app);
    const page = await app.inject('/evco/dashboard/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>evco</title>');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    const script = await app.inject('/evco/dashboard/assets/app.js');
    expect([script.statusCode, script.headers['content-type']]).toEqual([
      200,
      expect.stringContaining('javascript'),
    ]);
    const traversal = await app.inject('/evco/dashboard/..%2f..%2fpackage.json');
    expect(traversal.statusCode).toBe(404);
    expect(traversal.body).not.toContain('"name"');
  });

  it('is left out with dashboard: false', async () => {
    const { app } = await startApp({ dashboard: false });
    apps.push(app);
    expect((await app.inject('/evco/dashboard/')).statusCode).toBe(404);
  });
});
