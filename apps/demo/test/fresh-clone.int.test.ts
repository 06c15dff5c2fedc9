/**
 * The README's first command, from a fresh clone: `pnpm install` then `pnpm demo` brings the
 * demo up on the embedded default (no build step, no services) and `/health/ready` answers 200
 * within 60 s, serving the dashboard (built by `pnpm demo` itself, in under a second). Only committed files are in the clone, so this also catches a package that only
 * works from a developer's `dist/` or an uncommitted file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { waitFor } from '@evco/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_DIR, json, type RunningProcess, run } from './processes.js';

const REPO = resolve(DEMO_DIR, '../..');
const work = mkdtempSync(join(tmpdir(), 'evco-fresh-clone-'));
const clone = join(work, 'evco');
let demo: RunningProcess | undefined;

/** The developer's environment, minus anything that would change what the demo picks. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(DATABASE_URL|REDIS_URL|HOST|PORT|NODE_OPTIONS|VITEST.*|EVCO_.*)$/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

function pnpm(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): string {
  return execFileSync('pnpm', args, { cwd: clone, env, encoding: 'utf8', timeout: timeoutMs, stdio: 'pipe' });
}

afterAll(async () => {
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) {
    process.kill(-demo.child.pid!, 'SIGKILL');
    await demo.exited;
  }
  rmSync(work, { recursive: true, force: true });
});

describe('the README, from a fresh clone', () => {
  it('pnpm install && pnpm demo: ready within 60 s, the story runs, SIGTERM stops it', {
    timeout: 400_000,
  }, async () => {
    const timings: Record<string, number> = {};
    const timed = <T>(name: string, fn: () => T): T => {
      const started = Date.now();
      try {
        return fn();
      } finally {
        timings[name] = Date.now() - started;
      }
    };

    timed('clone', () =>
      execFileSync('git', ['clone', '--quiet', REPO, clone], { stdio: 'pipe', timeout: 60_000 }),
    );
    expect(pnpm(['--version'], cleanEnv(), 30_000).trim()).toBe('12.4.2');
    // better-sqlite3 builds against the system's Node headers where they cannot be downloaded.
    timed('install', () =>
      pnpm(['install', '--frozen-lockfile'], cleanEnv({ npm_config_nodedir: '/usr', CI: '1' }), 300_000),
    );

    const started = Date.now();
    demo = run('pnpm', ['demo'], { cwd: clone, env: cleanEnv({ PORT: '0' }), detached: true });
    const [, url] = await demo.waitForLine(/evco demo listening on (http:\/\/\S+)/, 60_000);
    await waitFor(async () => (await json(`${url}/evco/health/ready`)).status === 200, {
      timeoutMs: Math.max(1, 60_000 - (Date.now() - started)),
      intervalMs: 200,
      message: `/health/ready answering 200:\n${demo.output.join('\n')}`,
    });
    timings.readyAfterStart = Date.now() - started;
    expect(timings.readyAfterStart).toBeLessThan(60_000);
    expect(demo.output.join('\n')).toContain(
      `store:     sqlite (${join(realpathSync(clone), 'apps/demo/.evco/demo.db')})`,
    );

    // The README's "dashboard at /evco/dashboard/": the page itself, not the plugin's "not built"
    // placeholder (a fresh clone has no dashboard/dist until something builds it).
    const dashboard = await fetch(`${url}/evco/dashboard/`);
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get('x-evco-dashboard')).toBeNull();
    expect(await dashboard.text()).toContain('<title>evco dashboard</title>');

    const story = timed('story', () => pnpm(['demo:story'], cleanEnv({ EVCO_DEMO_URL: url! }), 60_000));
    expect(story).toMatch(/The flow: 15 events \(10 posted, 5 reactions\) from 4 modules/);

    // Ctrl-C / SIGTERM reaches the whole group started by `pnpm demo`, as from a terminal.
    process.kill(-demo.child.pid!, 'SIGTERM');
    await demo.closed;
    expect(demo.output.join('\n')).toContain('"msg":"stopped"');
    console.info(`fresh clone timings (ms): ${JSON.stringify(timings)}`);
  });
});
