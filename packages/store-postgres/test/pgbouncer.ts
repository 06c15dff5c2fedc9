import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@evco/testkit';

/** Where Debian's `pgbouncer` package puts the binary (`/usr/sbin`, not always on PATH). */
function findPgBouncer(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    if (!dir) continue;
    const candidate = join(dir, 'pgbouncer');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const BINARY = findPgBouncer();

/** Why PgBouncer tests cannot run here, or `undefined` when they can. */
export const pgBouncerMissing: string | undefined = BINARY
  ? undefined
  : 'pgbouncer is not installed (apt-get install pgbouncer; .ci/run does it)';

export interface PgBouncer {
  /** `postgresql://<user>@127.0.0.1:<port>/<db>`: the test database through the pooler. */
  readonly url: string;
  /** Stops the pooler and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections per (user, database). @default 5 */
  poolSize?: number;
  /** `ignore_startup_parameters`: what the pooler accepts and drops instead of refusing. */
  ignoreStartupParameters?: string[];
}

const running = new Set<ChildProcess>();
// A test runner that dies between start and stop must not leave poolers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A PgBouncer of the test's own in transaction mode, on a free port in front of `target`, with
 * trust authentication. PgBouncer refuses to run as root, so under root it runs as `postgres`.
 */
export async function startPgBouncer(target: string, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  if (!BINARY) throw new Error(pgBouncerMissing);
  const server = new URL(target);
  const user = decodeURIComponent(server.username || 'postgres');
  const database = server.pathname.slice(1) || user;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'evco-pgbouncer-'));
  const password = server.password ? ` password=${decodeURIComponent(server.password)}` : '';
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${server.hostname} port=${server.port || 5432} dbname=${database}${password}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 5}`,
      'max_client_conn = 200',
      ...(options.ignoreStartupParameters
        ? [`ignore_startup_parameters = ${options.ignoreStartupParameters.join(',')}`]
        : []),
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`);
  const identity = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  if (identity) chownSync(dir, identity.uid, identity.gid);

  const child = spawn(BINARY, [join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(identity ?? {}),
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (data: Buffer) => {
        output += data.toString();
        if (output.includes('process up')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', reject);
      void exited.then(() => reject(new Error(`pgbouncer exited before it was up:\n${output}`)));
    });
  } catch (error) {
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  let stopped: Promise<void> | undefined;
  return {
    url: `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`,
    stop: () => {
      stopped ??= (async () => {
        // SIGTERM: immediate shutdown, client connections are cut.
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
        running.delete(child);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

function systemUser(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}
