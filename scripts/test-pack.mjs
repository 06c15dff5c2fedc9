#!/usr/bin/env node
// `pnpm test:pack`: proves the published artifacts work the way a user meets them. Packs every
// public package with pnpm (publishConfig and workspace ranges applied), then, in temporary npm
// projects outside the workspace, installs only the tarballs a user would pick and runs real
// programs: an ESM TypeScript program (type-checked with tsc --noEmit, then run) and a CommonJS
// program on core + store-sqlite + publisher-inproc (both also prune through store-sqlite's worker
// thread, loaded from the package's dist beside the entry each one runs); and core + store-memory
// + handlers-user alone.
// The TypeScript programs are checked with a strict user's settings, exactOptionalPropertyTypes
// included, so an option given a value that may be undefined (`process.env.DATABASE_URL`) is
// accepted as the READMEs show; a fleet program (store-postgres, publisher-redis, fastify,
// opentelemetry) is type-checked the same way.
// It also checks that nothing unused was pulled in (no pg, ioredis or better-sqlite3 where not chosen).
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The version of `name` installed for the workspace package in `dir` (the root by default). */
const versionOf = (name, dir = '.') =>
  JSON.parse(readFileSync(join(root, dir, 'node_modules', name, 'package.json'), 'utf8')).version;

/** A strict user's compiler options (exactOptionalPropertyTypes too), checking `files`. */
function strictTsconfig(files) {
  return JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      outDir: 'out',
      types: ['node'],
    },
    include: files,
  });
}
const keep = process.argv.includes('--keep');

function run(cmd, args, cwd) {
  process.stdout.write(`$ (${cwd}) ${cmd} ${args.join(' ')}\n`);
  return execFileSync(cmd, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' },
  });
}

/** Builds and packs every public package; returns name → tarball path. */
function packAll() {
  run('pnpm', ['turbo', 'run', 'build', '--output-logs=errors-only'], root);
  const packDir = join(root, '.pack');
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir);
  const tarballs = {};
  for (const dir of ['packages', 'apps'].flatMap((d) =>
    readdirSync(join(root, d)).map((p) => join(root, d, p)),
  )) {
    const manifestPath = join(dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (manifest.private) continue;
    run('pnpm', ['pack', '--pack-destination', packDir], dir);
    const prefix = `${manifest.name.replace('@', '').replace('/', '-')}-${manifest.version}`;
    const file = readdirSync(packDir).find((f) => f === `${prefix}.tgz`);
    if (!file) throw new Error(`no tarball for ${manifest.name}`);
    tarballs[manifest.name] = join(packDir, file);
  }
  process.stdout.write(`packed ${Object.keys(tarballs).length} packages\n`);
  return tarballs;
}

/** A fresh npm project in `work/name` with only the given tarballs (and dev tools) installed. */
function createProject(work, tarballs, name, packages, devDependencies = {}) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `evco-smoke-${name}`, private: true, type: 'module' }),
  );
  const specs = packages.map((p) => {
    if (!tarballs[p]) throw new Error(`${p} was not packed`);
    return tarballs[p];
  });
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], dir);
  const dev = Object.entries(devDependencies).map(([n, v]) => `${n}@${v}`);
  if (dev.length > 0)
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '-D', ...dev], dir);
  return dir;
}

function assertAbsent(dir, forbidden) {
  const present = forbidden.filter((p) => existsSync(join(dir, 'node_modules', p)));
  if (present.length > 0) throw new Error(`${dir} pulled in packages it does not use: ${present.join(', ')}`);
  process.stdout.write(`ok: none of ${forbidden.join(', ')} installed\n`);
}

function main() {
  const tarballs = packAll();
  const work = mkdtempSync(join(tmpdir(), 'evco-pack-smoke-'));
  try {
    // core + store-sqlite + publisher-inproc: an ESM TypeScript program and a CommonJS one.
    const sqlite = createProject(
      work,
      tarballs,
      'sqlite',
      ['@evco/core', '@evco/store-sqlite', '@evco/publisher-inproc'],
      {
        typescript: versionOf('typescript'),
        '@types/node': versionOf('@types/node'),
      },
    );
    assertAbsent(sqlite, [
      'pg',
      'ioredis',
      '@evco/store-postgres',
      '@evco/publisher-redis',
      '@evco/testkit',
      'vitest',
    ]);
    writeFileSync(join(sqlite, 'tsconfig.json'), strictTsconfig(['main.ts']));
    writeFileSync(join(sqlite, 'main.ts'), ESM_PROGRAM);
    writeFileSync(join(sqlite, 'main.cjs'), CJS_PROGRAM);
    run('npx', ['tsc', '--noEmit', '-p', '.'], sqlite);
    run('npx', ['tsc', '-p', '.'], sqlite);
    process.stdout.write(run('node', ['out/main.js'], sqlite));
    process.stdout.write(run('node', ['main.cjs'], sqlite));

    // core + store-memory + one module alone.
    const module = createProject(work, tarballs, 'module', [
      '@evco/core',
      '@evco/store-memory',
      '@evco/handlers-user',
    ]);
    assertAbsent(module, [
      'pg',
      'ioredis',
      'better-sqlite3',
      '@evco/store-sqlite',
      '@evco/handlers-subscription',
      '@evco/publisher-inproc',
    ]);
    writeFileSync(join(module, 'main.mjs'), MODULE_PROGRAM);
    process.stdout.write(run('node', ['main.mjs'], module));

    // The fleet's packages, type-checked only (running needs PostgreSQL and Redis).
    const fleet = createProject(
      work,
      tarballs,
      'fleet',
      ['@evco/core', '@evco/store-postgres', '@evco/publisher-redis', '@evco/fastify', '@evco/opentelemetry'],
      {
        typescript: versionOf('typescript'),
        '@types/node': versionOf('@types/node'),
        fastify: versionOf('fastify', 'packages/fastify'),
        '@opentelemetry/api': versionOf('@opentelemetry/api', 'packages/opentelemetry'),
      },
    );
    writeFileSync(join(fleet, 'tsconfig.json'), strictTsconfig(['main.ts']));
    writeFileSync(join(fleet, 'main.ts'), FLEET_PROGRAM);
    run('npx', ['tsc', '--noEmit', '-p', '.'], fleet);
    process.stdout.write('fleet ok: type-checked with exactOptionalPropertyTypes\n');
    process.stdout.write('test:pack passed\n');
  } finally {
    if (keep) process.stdout.write(`kept ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
}

// The programs are plain strings so this script needs nothing but Node.
const ESM_PROGRAM = `
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCoordinator, EvcoError, isEvcoError, type RecordedEvent, StoreUnavailableError } from '@evco/core';
import * as adapter from '@evco/core/adapter';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createSqliteStore, type SqliteStore } from '@evco/store-sqlite';

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error('ESM smoke failed: ' + message);
}

// Configuration that may be unset, as a strict project (exactOptionalPropertyTypes) passes it on.
const unset: string | undefined = process.env.EVCO_SMOKE_UNSET;
const store: SqliteStore = createSqliteStore({
  filename: join(mkdtempSync(join(tmpdir(), 'evco-esm-')), 'events.db'),
  tablePrefix: unset,
  // The default for a file; said here so a worker that cannot load fails the prune below.
  pruneThread: 'worker',
});
const coordinator = await createCoordinator({
  store,
  publisher: createInProcPublisher(),
  pollIntervalMs: 50,
  logger: undefined,
  retry: unset === undefined ? undefined : { maxAttempts: Number(unset) },
});
const handled: Array<{ id: string; replay: boolean }> = [];
await coordinator.registerHandler(
  'PackSmoked',
  async (event: RecordedEvent, context) => {
    handled.push({ id: event.id, replay: context.isReplay });
  },
  { name: 'packSmoke', timeoutMs: undefined },
);
const base = Date.parse('2026-01-01T00:00:00Z');
const results = await coordinator.publishEvents(
  [0, 1, 2].map((n) => ({ eventType: 'PackSmoked', aggregateId: 'smoke', eventData: { n }, occurredAt: new Date(base + n * 1000) })),
);
await coordinator.waitForIdle();
check(handled.length === 3 && handled.every((h) => !h.replay), 'three events handled once');
// A constant list of types (a readonly tuple) is a query's list as it stands.
const SMOKED_TYPES = ['PackSmoked'] as const;
const history = await coordinator.getEventHistory({ eventType: SMOKED_TYPES, aggregateId: unset });
check(history.map((e) => e.id).join() === results.map((r) => r.eventId).join(), 'history in publish order');
check(typeof history[0]!.position === 'string' && JSON.parse(JSON.stringify(history))[0].position === history[0]!.position, 'positions are JSON-safe decimal strings');
const replay = await coordinator.replayEvents({ from: new Date(base + 1000), to: new Date(base + 3000), handler: unset });
check(replay.events === 2, 'replayed two events');
await coordinator.waitForIdle();
check(handled.filter((h) => h.replay).length === 2, 'replayed deliveries marked isReplay');
const noIds: readonly string[] = [];
check((await coordinator.retryDeadLetters({ deliveryIds: noIds })).retried === 0, 'retry takes a readonly list');
const invalid = await coordinator.publishEvent({ eventType: 'bad type', aggregateId: '' }).catch((e: unknown) => e);
check(isEvcoError(invalid, 'EVENT_VALIDATION'), 'typed validation error');
// Old events nobody handles, pruned in store-sqlite's worker thread (dist/prune-worker.js).
await coordinator.publishEvents([0, 1].map((n) => ({ eventType: 'PackPruned', aggregateId: 'old', eventData: { n }, occurredAt: new Date(base - 86_400_000) })));
const pruned = await coordinator.pruneEvents({ before: new Date(base), types: ['PackPruned'] });
check(pruned.removed === 2 && (await coordinator.getEventHistory({ eventType: 'PackPruned' })).length === 0, 'pruned in the worker');
await coordinator.shutdown();
// The adapter entry shares the root's modules: an error a store throws (its classes come from
// @evco/core/adapter) is an instance of the class the application imports from @evco/core.
check(adapter.StoreUnavailableError === StoreUnavailableError && typeof adapter.parseOptions === 'function', 'one copy of core behind both entries');
const missing = await Promise.resolve()
  .then(() => createSqliteStore({ filename: join(tmpdir(), 'evco-esm-missing', 'none.db'), fileMustExist: true }).migrate?.())
  .catch((e: unknown) => e);
check(missing instanceof EvcoError && isEvcoError(missing, 'STORE_UNAVAILABLE'), 'a store error is an instance of the root class');
console.log('esm ok: handled', handled.length, 'history', history.length, 'replayed', replay.events, 'pruned in the worker', pruned.removed);
`;

const CJS_PROGRAM = `
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { createCoordinator, EvcoError } = require('@evco/core');
const adapter = require('@evco/core/adapter');
const { createSqliteStore } = require('@evco/store-sqlite');
const { createInProcPublisher } = require('@evco/publisher-inproc');

(async () => {
  const store = createSqliteStore({ filename: join(mkdtempSync(join(tmpdir(), 'evco-cjs-')), 'events.db'), pruneThread: 'worker' });
  const coordinator = await createCoordinator({ store, publisher: createInProcPublisher(), pollIntervalMs: 50 });
  const handled = [];
  await coordinator.registerHandler('CjsSmoked', async (event, context) => { handled.push(context.isReplay); }, { name: 'cjsSmoke' });
  const from = new Date();
  await coordinator.publishEvent({ eventType: 'CjsSmoked', aggregateId: 'cjs' });
  await coordinator.waitForIdle();
  const history = await coordinator.getEventHistory({ aggregateId: 'cjs' });
  const replay = await coordinator.replayEvents({ from: new Date(from.getTime() - 1000), to: new Date(Date.now() + 1000) });
  await coordinator.waitForIdle();
  // Pruned in store-sqlite's worker thread, loaded from dist/prune-worker.cjs.
  await coordinator.publishEvents([0, 1, 2].map((n) => ({ eventType: 'CjsPruned', aggregateId: 'old', eventData: { n }, occurredAt: new Date(from.getTime() - 86_400_000) })));
  const pruned = await coordinator.pruneEvents({ before: from, types: ['CjsPruned'] });
  await coordinator.shutdown();
  if (pruned.removed !== 3) throw new Error('CJS smoke failed: pruned in the worker ' + JSON.stringify(pruned));
  if (adapter.EvcoError !== EvcoError) throw new Error('CJS smoke failed: two copies of core behind its entries');
  if (handled.join() !== 'false,true' || history.length !== 1 || replay.events !== 1) {
    throw new Error('CJS smoke failed: ' + JSON.stringify({ handled, history: history.length, replay }));
  }
  console.log('cjs ok: handled', handled.length, 'history', history.length, 'replayed', replay.events, 'pruned in the worker', pruned.removed);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

const FLEET_PROGRAM = `
import { createCoordinator } from '@evco/core';
import { bearerToken, evcoPlugin } from '@evco/fastify';
import { createOpenTelemetryInstrumentation } from '@evco/opentelemetry';
import { createRedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import Fastify from 'fastify';

// As the READMEs write it: settings straight from the environment, each string | undefined.
export async function start(): Promise<void> {
  const app = Fastify();
  const token = process.env.EVCO_ADMIN_TOKEN;
  await app.register(evcoPlugin, {
    coordinator: () =>
      createCoordinator({
        store: createPostgresStore({ connectionString: process.env.DATABASE_URL, schema: process.env.EVCO_SCHEMA }),
        publisher: createRedisPublisher({ url: process.env.REDIS_URL, channelPrefix: process.env.EVCO_CHANNEL_PREFIX }),
        instrumentation: [createOpenTelemetryInstrumentation({ statsIntervalMs: undefined })],
      }),
    auth: token ? bearerToken(token) : undefined,
    authHint: process.env.EVCO_AUTH_HINT,
  });
  await app.evco.registerHandler('UserRegistered', async function welcome(event) {
    app.log.info({ id: event.id });
  }, { timeoutMs: undefined });
  await app.listen({ port: 0 });
}
`;

const MODULE_PROGRAM = `
import { createCoordinator } from '@evco/core';
import { createMemoryStore } from '@evco/store-memory';
import { InMemoryUserDirectory, registerUserHandlers, UserRegistered } from '@evco/handlers-user';

// No publisher package installed: in one process a publisher that announces nothing is enough,
// since the coordinator wakes its own dispatcher after every append. (Any EventPublisher works.)
const silentPublisher = {
  name: 'none',
  capabilities: { crossProcess: false },
  async publish() {},
  subscribe() { return () => {}; },
  async healthCheck() { return { healthy: true, latencyMs: 0, details: {} }; },
  async close() {},
};

const coordinator = await createCoordinator({ store: createMemoryStore(), publisher: silentPublisher });
const users = new InMemoryUserDirectory();
await registerUserHandlers(coordinator, { users });
const userId = '0190a0b0-1234-7abc-8def-0123456789ab';
await coordinator.publishEvent(UserRegistered.create({ aggregateId: userId, data: { userId, email: 'ada@example.com', username: 'ada' } }));
await coordinator.waitForIdle();
const user = await users.get(userId);
await coordinator.shutdown();
if (!user || user.email !== 'ada@example.com') throw new Error('module smoke failed: ' + JSON.stringify(user));
console.log('module ok: user', user.username, 'registered through the user module alone');
`;

main();
