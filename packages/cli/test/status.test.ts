import { createAdminClient, createCoordinator, type EventStore, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createSqliteStore } from '@evco/store-sqlite';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { reportHandlers } from '../src/commands/handlers.js';
import { printStatus, reportStatus } from '../src/commands/status.js';
import { type ConnectionFlags, redisTransport, resolveRedis } from '../src/connect.js';
import { EXIT } from '../src/errors.js';
import { capturedContext, tempStoreFile } from './support.js';

/** The store, except that its counts query fails as a statement timeout would. */
function statsFailing(store: EventStore): EventStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'stats')
        return () => Promise.reject(new Error('canceling statement due to statement timeout'));
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function fleetStatus(failing: boolean) {
  const file = tempStoreFile('evco-cli-status-');
  // A fleet that has work: one handler subscribed with a pending delivery.
  const app = await createCoordinator({
    store: createSqliteStore({ filename: file }),
    publisher: createInProcPublisher(),
    logger: silentLogger,
  });
  await app.registerHandler('Paid', async () => {}, { name: 'sendReceipt' });
  await app.shutdown();
  const store = createSqliteStore({ filename: file });
  const admin = await createAdminClient({
    store: failing ? statsFailing(store) : store,
    logger: silentLogger,
  });
  const s = await admin.getCoordinatorStatus();
  const subscriptions = await admin.listSubscriptions();
  await admin.close();
  return { s, subscriptions, file };
}

async function statusText(failing: boolean): Promise<string> {
  const { s, file } = await fleetStatus(failing);
  const { ctx, out } = capturedContext({ sqlite: file });
  printStatus(ctx, s, file);
  return out();
}

/** What `evco status` (text or `--json`) exits with and writes to stderr. */
async function statusExit(failing: boolean, json: boolean): Promise<{ code: number; stderr: string }> {
  const { s, file } = await fleetStatus(failing);
  const { ctx } = capturedContext({ sqlite: file }, json);
  let stderr = '';
  ctx.io.stderr.on('data', (d) => {
    stderr += d;
  });
  const code = reportStatus(ctx, s, file);
  await new Promise((r) => setImmediate(r));
  return { code, stderr };
}

describe('evco status', () => {
  it('says the fleet counts are unknown when only the stats query fails, instead of zeros', async () => {
    const text = await statusText(true);
    expect(text).toMatch(/^store .*healthy/m);
    expect(text).toMatch(
      /^fleet counts +UNKNOWN: the store's stats did not answer \(canceling statement due to statement timeout\)$/m,
    );
    expect(text).not.toMatch(/0 pending|lag +none|no events/);
    // The handler is listed (subscriptions answered), its figures unknown.
    expect(text).toMatch(/│ sendReceipt │ Paid +│ \? +│ \? +│ \? +│ \? +│ \? +│ live until/);

    const whole = await statusText(false);
    expect(whole).toMatch(/^deliveries +0 pending, 0 dead, 0 orphaned$/m);
    expect(whole).toMatch(/│ sendReceipt │ Paid +│ 0 +│ 0 +│ 0 +│ 0 +│ - +│ live until/);
  });

  it('exits 3 (not 0) when the fleet counts are unknown, text or --json, saying why on stderr; 0 when they are known', async () => {
    for (const json of [false, true]) {
      const failed = await statusExit(true, json);
      expect(failed.code).toBe(EXIT.incomplete);
      expect(failed.code).toBe(3);
      expect(failed.stderr).toMatch(
        /^evco: the fleet counts are unknown: the sqlite store at .* answers, but its stats did not \(canceling statement due to statement timeout\); exit 3\n$/,
      );
      const whole = await statusExit(false, json);
      expect(whole).toEqual({ code: 0, stderr: '' });
    }
  });

  it('names the Redis publisher with its transport, tls or plain (sentinels apart), text and --json, no password', async () => {
    const { s, file } = await fleetStatus(false);
    const redisStatus = {
      ...s,
      publisher: {
        name: 'redis',
        capabilities: { crossProcess: true },
        health: { healthy: true, latencyMs: 2, details: {} },
      },
    } as typeof s;
    const env = { EVCO_REDIS_PASSWORD: 'node-s3cret', EVCO_REDIS_SENTINEL_PASSWORD: 'sentinel-s3cret' };
    /** `evco status` on `flags`: its publisher line, and its --json publisher. */
    const render = (flags: ConnectionFlags) => {
      const redis = redisTransport(resolveRedis(flags, env)!);
      const text = capturedContext({ sqlite: file });
      reportStatus(text.ctx, redisStatus, file, redis);
      const json = capturedContext({ sqlite: file }, true);
      reportStatus(json.ctx, redisStatus, file, redis);
      for (const out of [text.out(), json.out()]) expect(out).not.toMatch(/s3cret/);
      const publisher = (JSON.parse(json.out()) as { publisher: Record<string, unknown> }).publisher;
      expect(publisher).toMatchObject({ name: 'redis', health: { healthy: true } });
      return { line: /^publisher +(.*)$/m.exec(text.out())?.[1], publisher };
    };

    expect(render({ redisUrl: 'redis://:url-s3cret@cache:6379' })).toMatchObject({
      line: 'redis redis://:***@cache:6379 (plain): healthy, 2 ms',
      publisher: { where: 'redis://:***@cache:6379', transport: 'plain' },
    });
    expect(render({ redisUrl: 'rediss://:url-s3cret@cache:6380', redisTlsInsecure: true })).toMatchObject({
      line: 'redis rediss://:***@cache:6380 (tls-unverified): healthy, 2 ms',
      publisher: { where: 'rediss://:***@cache:6380', transport: 'tls-unverified' },
    });
    expect(render({ redisUrl: 'rediss://:url-s3cret@cache:6380' })).toMatchObject({
      line: 'redis rediss://:***@cache:6380 (tls): healthy, 2 ms',
      publisher: { transport: 'tls' },
    });
    const sentinels = { redisSentinels: 's1:26379,s2:26379', redisSentinelName: 'main' };
    expect(render({ ...sentinels, redisTls: true })).toMatchObject({
      line: 'redis redis-sentinel://s1:26379,s2:26379/main (tls; sentinels plain): healthy, 2 ms',
      publisher: { transport: 'tls', sentinelTransport: 'plain' },
    });
    expect(render({ ...sentinels, redisSentinelTls: true })).toMatchObject({
      line: 'redis redis-sentinel://s1:26379,s2:26379/main (plain; sentinels tls): healthy, 2 ms',
      publisher: { transport: 'plain', sentinelTransport: 'tls' },
    });
    const cluster = render({ redisCluster: 'n1:7000' });
    expect(cluster).toMatchObject({
      line: 'redis redis-cluster://n1:7000 (plain): healthy, 2 ms',
      publisher: { where: 'redis-cluster://n1:7000', transport: 'plain' },
    });
    expect(cluster.publisher).not.toHaveProperty('sentinelTransport');
    expect(render({ redisCluster: 'n1:7000', redisTls: true }).publisher).toMatchObject({ transport: 'tls' });
    // Without verification the line says so, per hop (the insecure setting applies to both).
    expect(
      render({ ...sentinels, redisTls: true, redisSentinelTls: true, redisTlsInsecure: true }),
    ).toMatchObject({
      line: 'redis redis-sentinel://s1:26379,s2:26379/main (tls-unverified; sentinels tls-unverified): healthy, 2 ms',
      publisher: { transport: 'tls-unverified', sentinelTransport: 'tls-unverified' },
    });
  });

  it("--help names both of status's failure exit codes, as the README's exit-code table does", async () => {
    const { ctx, out } = capturedContext({});
    const code = await runCli(['status', '--help'], ctx.io);
    expect(code).toBe(0);
    expect(out().replace(/\s+/g, ' ')).toContain(
      'exit 1 when the store is unhealthy, 3 when its counts are unknown',
    );
  });
});

describe('evco handlers', () => {
  /** What `evco handlers` (text or `--json`) prints and exits with. */
  async function handlersExit(failing: boolean, json: boolean) {
    const { s, subscriptions, file } = await fleetStatus(failing);
    const { ctx, out } = capturedContext({ sqlite: file }, json);
    let stderr = '';
    ctx.io.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = reportHandlers(ctx, subscriptions, s, file);
    await new Promise((r) => setImmediate(r));
    return { code, stderr, stdout: out() };
  }

  it('exits 3 as status does when the counts are unknown, saying so and why on stderr; 0 when they are known', async () => {
    for (const json of [false, true]) {
      const failed = await handlersExit(true, json);
      expect(failed.code).toBe(EXIT.incomplete);
      expect(failed.stderr).toMatch(
        /^evco: the fleet counts are unknown: the sqlite store at .* answers, but its stats did not \(canceling statement due to statement timeout\); exit 3\n$/,
      );
      // The subscription is still listed, its backlog unknown rather than zero.
      if (json) {
        const body = JSON.parse(failed.stdout) as {
          subscriptions: Array<{ handler: string }>;
          handlers: Array<{ pending: number | null }>;
          fleetStats: { available: boolean; error?: string };
        };
        expect(body.subscriptions.map((x) => x.handler)).toEqual(['sendReceipt']);
        expect(body.handlers[0]!.pending).toBeNull();
        expect(body.fleetStats).toMatchObject({
          available: false,
          error: expect.stringMatching(/statement timeout/),
        });
      } else {
        expect(failed.stdout).toMatch(/│ sendReceipt │ Paid +│ .*│ live +│ .*│ \? +│ \? +│ \? +│/);
      }
      const whole = await handlersExit(false, json);
      expect(whole).toMatchObject({ code: 0, stderr: '' });
    }
  });

  it('--help names exit 3, as the README does', async () => {
    const { ctx, out } = capturedContext({});
    expect(await runCli(['handlers', '--help'], ctx.io)).toBe(0);
    expect(out().replace(/\s+/g, ' ')).toContain('with their backlog (exit 3 when its counts are unknown)');
  });
});
