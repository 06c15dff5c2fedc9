/**
 * The evco example service: `node dist/main.js` in production (after `pnpm --filter @evco/demo
 * build`), `pnpm demo` from source. Reads the configuration from the environment, starts the HTTP
 * server (which starts the coordinator), prints its URL, and shuts down gracefully on SIGINT /
 * SIGTERM: stop taking requests, let in-flight handlers finish, close the adapters, exit 0.
 */
import { maskSecrets } from '@evco/core';
import { buildApp, EVCO_PREFIX } from './app.js';
import { createDemoCoordinator } from './compose.js';
import { ConfigError, describeConfig, loadConfig } from './config.js';
import { exitWithLauncher } from './launcher.js';

function fail(message: string): never {
  process.stderr.write(`evco demo: ${message}\n`);
  process.exit(1);
}

function formatUrl(host: string, port: number): string {
  const shown =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) fail(`${error.message}\nFix the variables above and start again.`);
  throw error;
}

function couldNotStart(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  const hint =
    (error as { code?: unknown }).code === 'EADDRINUSE'
      ? ' (another process has this port: set PORT to a free one)'
      : '';
  fail(`could not start: ${maskSecrets(message)}${hint}`);
}

// Imported once the configuration is known good: a bad one exits without loading the SDK.
const { createDemoTelemetry } = await import('./telemetry.js');
const telemetry = await createDemoTelemetry(process.env);
// Building the app starts the coordinator (the store is reached, migrations run).
const app = await buildApp({
  config,
  createCoordinator: (logger) => createDemoCoordinator(config, logger, [telemetry.instrumentation]),
}).catch(couldNotStart);
telemetry.mount(app);

let stopping: Promise<void> | undefined;
function stop(signal: NodeJS.Signals | 'launcher exited'): void {
  if (stopping) {
    // A second Ctrl-C means "now".
    if (signal === 'launcher exited') return;
    process.stderr.write(`evco demo: ${signal} again, exiting without waiting\n`);
    process.exit(1);
  }
  app.log.info({ signal }, 'shutting down: no new requests, draining in-flight handlers');
  // A drain that hangs must not keep the process forever: the deadline is the handlers' plus a margin.
  const deadline = setTimeout(() => {
    process.stderr.write('evco demo: shutdown took too long, exiting\n');
    process.exit(1);
  }, config.shutdownTimeoutMs + 10_000);
  deadline.unref();
  stopping = app.close().then(
    () => {
      app.log.info('stopped');
      process.exit(0);
    },
    (error: unknown) => {
      app.log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Under `pnpm demo`, a SIGTERM to pnpm never reaches this process: follow the launcher out instead.
exitWithLauncher((pid) => {
  app.log.info({ launcher: pid }, 'the process that launched the demo exited');
  stop('launcher exited');
});

try {
  await app.listen({ host: config.host, port: config.port });
} catch (error) {
  await app.close().catch(() => {});
  couldNotStart(error);
}

const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
const url = formatUrl(config.host, port);
const { store, publisher, adminRoutes } = describeConfig(config);
process.stdout.write(
  [
    `evco demo listening on ${url}`,
    `  store:     ${store.kind} (${store.location}${'schema' in store ? `, schema ${store.schema}` : ''})`,
    `  publisher: ${publisher.kind} (${publisher.location})`,
    `  dashboard: ${url}${EVCO_PREFIX}/dashboard/`,
    `  API:       ${url}${EVCO_PREFIX}/ (docs at ${url}/docs)`,
    `  metrics:   ${url}/metrics${telemetry.otlp ? `; traces and metrics over OTLP as ${telemetry.serviceName}` : ''}`,
    `  admin:     ${adminRoutes === 'on' ? 'on (Authorization: Bearer $EVCO_ADMIN_TOKEN)' : 'off (set EVCO_ADMIN_TOKEN to turn on)'}`,
    '',
  ].join('\n'),
);
