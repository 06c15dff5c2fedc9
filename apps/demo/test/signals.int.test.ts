/**
 * Clean signal handling, as shipped: the production command (`node dist/main.js`, compiled
 * JavaScript, no tsx) drains and exits 0 on SIGTERM; `pnpm demo` leaves no server behind when
 * only pnpm gets the SIGTERM (pnpm does not forward it; the demo follows its launcher out).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from '@evco/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_DIR, json, type RunningProcess, run } from './processes.js';

const REPO = resolve(DEMO_DIR, '../..');
const BUILT = join(DEMO_DIR, 'dist', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'evco-signals-'));
const started: RunningProcess[] = [];

afterAll(async () => {
  for (const p of started) {
    try {
      process.kill(-p.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

function env(name: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(DATABASE_URL|REDIS_URL|HOST|PORT|NODE_OPTIONS|VITEST.*|EVCO_.*|npm_.*)$/.test(key)) continue;
    clean[key] = value;
  }
  return {
    ...clean,
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: join(work, `${name}.db`),
    EVCO_LOG_FORMAT: 'json',
    ...extra,
  };
}

/** True once nothing accepts connections at `url` any more. */
async function refused(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/evco/health/live`, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch {
    return true;
  }
}

const workflowCompleted = (executionId: string) => ({
  eventType: 'WorkflowExecutionCompleted',
  aggregateId: executionId,
  eventData: {
    executionId,
    workflowId: '0190f3a2-5b1e-7c4d-9a8b-1234567890ab',
    userId: '0190f3a2-5b1e-7c4d-9a8b-1234567890ac',
    durationMs: 5,
  },
});

describe('signals', () => {
  it.skipIf(!existsSync(BUILT))(
    'node dist/main.js: SIGTERM drains the in-flight handlers and exits 0 (needs `pnpm --filter @evco/demo build`)',
    { timeout: 120_000 },
    async () => {
      const demo = run(process.execPath, [BUILT], {
        cwd: DEMO_DIR,
        env: env('production', { EVCO_HANDLER_DELAY_MS: '700' }),
        detached: true,
      });
      started.push(demo);
      const [, url] = await demo.waitForLine(/^evco demo listening on (http:\/\/\S+)$/, 60_000);
      expect(demo.output.join('\n')).toContain(`dashboard: ${url}/evco/dashboard/`);
      const published = await json(`${url}/evco/events`, {
        method: 'POST',
        body: JSON.stringify(workflowCompleted('0190f3a2-5b1e-7c4d-9a8b-1234567890ad')),
      });
      expect(published.status).toBe(201);
      await waitFor(
        async () =>
          (await json<{ counts: { inFlight: number } }>(`${url}/evco/status`)).body.counts.inFlight === 1,
        {
          timeoutMs: 10_000,
          intervalMs: 20,
          message: 'a handler in flight',
        },
      );

      demo.child.kill('SIGTERM');
      const exit = await demo.exited;
      expect(exit, demo.output.join('\n')).toEqual({ code: 0, signal: null });
      const log = demo.output.join('\n');
      // The handler that was running finished before the store closed.
      const final = demo.output
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; handled?: number })
        .find((l) => l.msg === 'coordinator stopped: final counts');
      expect(final?.handled).toBe(1);
      expect(log).toContain('"msg":"stopped"');
      expect(await refused(url!)).toBe(true);
    },
  );

  it('pnpm demo: a SIGTERM to pnpm alone leaves no server running', { timeout: 180_000 }, async () => {
    const demo = run('pnpm', ['demo'], { cwd: REPO, env: env('pnpm-demo'), detached: true });
    started.push(demo);
    const [, url] = await demo.waitForLine(/evco demo listening on (http:\/\/\S+)/, 120_000);
    expect((await json(`${url}/evco/health/ready`)).status).toBe(200);

    // Only pnpm gets the signal, as from `kill <pid>` or a supervisor; not the process group.
    process.kill(demo.child.pid!, 'SIGTERM');
    await waitFor(async () => (await refused(url!)) && groupGone(demo.child.pid!), {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: `the port freed and every process of \`pnpm demo\` gone:\n${demo.output.join('\n')}`,
    });
    const log = demo.output.join('\n');
    expect(log).toContain('the process that launched the demo exited');
    expect(log).toContain('"msg":"stopped"');
  });
});
