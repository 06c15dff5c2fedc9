import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './free-port.js';
import { redisTlsArgs, type TestTls } from './test-tls.js';

/**
 * A `redis-server` of the test's own, on a free port, for tests that kill, restart or pause
 * Redis: they must never do that to the shared server other suites use.
 */
export interface PrivateRedis {
  readonly port: number;
  /** `redis://[:password@]127.0.0.1:<port>` (`rediss://` with `tls`) */
  readonly url: string;
  /** Starts the server (again) on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGKILL, as in a crash; resolves once the process is gone. */
  kill(): Promise<void>;
  readonly running: boolean;
}

export async function startPrivateRedis(
  options: {
    password?: string | undefined;
    /** Serve TLS only (no plain port), with this certificate (`makeTestTls()`). */
    tls?: TestTls | undefined;
    /** With `tls`: whether clients must present a certificate. @default 'no' */
    tlsAuthClients?: 'yes' | 'no' | 'optional' | undefined;
  } = {},
): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const args = [
    ...(options.tls
      ? redisTlsArgs(options.tls, port, { authClients: options.tlsAuthClients })
      : ['--port', String(port)]),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ];
  if (options.password) args.push('--requirepass', options.password);
  const scheme = options.tls ? 'rediss' : 'redis';

  const server: PrivateRedis = {
    port,
    url: options.password
      ? `${scheme}://:${options.password}@127.0.0.1:${port}`
      : `${scheme}://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    start: () =>
      new Promise<void>((resolve, reject) => {
        if (child) return resolve();
        const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        const onData = (data: Buffer) => {
          output += data.toString();
          if (output.includes('Ready to accept connections')) {
            proc.stdout?.off('data', onData);
            proc.stdout?.resume();
            resolve();
          }
        };
        proc.stdout?.on('data', onData);
        proc.stderr?.resume();
        proc.once('error', (error) =>
          reject(new Error(`cannot start redis-server (is it installed and on PATH?): ${error.message}`)),
        );
        proc.once('exit', (code) => {
          if (child === proc) child = undefined;
          reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`));
        });
        child = proc;
      }),
    kill: () =>
      new Promise<void>((resolve) => {
        const proc = child;
        if (!proc || proc.exitCode !== null) {
          child = undefined;
          return resolve();
        }
        proc.once('exit', () => resolve());
        child = undefined;
        proc.kill('SIGKILL');
      }),
  };
  await server.start();
  // Never outlive the test run, even when it ends without calling kill().
  process.once('exit', () => child?.kill('SIGKILL'));
  return server;
}
