import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@evco/testkit';
import { it } from 'vitest';

/** Where Debian's `pgbouncer` package puts the binary (`/usr/sbin`, not always on PATH). */
function findPgBouncer(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    if (!dir) continue;
    const candidate = join(dir, 'pgbouncer');
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `1.24.1` from `PgBouncer 1.24.1`, the first line of `pgbouncer --version`. */
function versionOf(binary: string): string | undefined {
  try {
    const out = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    return /^PgBouncer (\d+\.\d+(?:\.\d+)?)/m.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** A PgBouncer binary the tests can run, or why not. */
export interface PgBouncerBinary {
  /** What the tests call it: `system` or `modern`, with the version when known. */
  readonly label: string;
  readonly path: string | undefined;
  /** `1.24.1`, from `--version`. */
  readonly version: string | undefined;
  /** Why it cannot run here, or `undefined` when it can. */
  readonly missing: string | undefined;
}

/**
 * A binary the tests may run: `path` answering `--version` like PgBouncer `minimum` or later, or
 * why not, with `getIt` (how to install one) in every reason.
 */
function pgBouncerBinary(
  kind: string,
  path: string | undefined,
  where: string,
  minimum: [number, number],
  getIt: string,
): PgBouncerBinary {
  const version = path !== undefined && executable(path) ? versionOf(path) : undefined;
  return {
    label: `${kind} ${version ?? ''}`.trim(),
    path,
    version,
    missing:
      path === undefined || !executable(path)
        ? `PgBouncer not found ${where}: ${getIt}`
        : version === undefined
          ? `${path} does not answer --version like pgbouncer: ${getIt}`
          : !atLeast(version, ...minimum)
            ? `${path} is PgBouncer ${version}, not ${minimum.join('.')}+: ${getIt}`
            : undefined,
  };
}

/**
 * The distribution's PgBouncer (Debian bookworm's 1.18 in CI): `pgbouncer` on PATH, in
 * `/usr/sbin` or `/usr/local/sbin`.
 */
export const SYSTEM_PGBOUNCER: PgBouncerBinary = pgBouncerBinary(
  'system',
  findPgBouncer(),
  'on PATH, in /usr/sbin or /usr/local/sbin',
  [1, 0],
  'apt-get install pgbouncer (.ci/run does it)',
);

/** Where `.ci/install-pgbouncer-1.24.sh` installs PgBouncer 1.24. */
export const MODERN_PGBOUNCER_DEFAULT_PATH = '/opt/pgbouncer-1.24/bin/pgbouncer';

const modernPath = process.env.EVCO_PGBOUNCER_124 || MODERN_PGBOUNCER_DEFAULT_PATH;

/**
 * PgBouncer 1.21+ (protocol-level prepared statements; 1.24 in CI): `EVCO_PGBOUNCER_124`, else
 * `/opt/pgbouncer-1.24/bin/pgbouncer`.
 */
export const MODERN_PGBOUNCER: PgBouncerBinary = pgBouncerBinary(
  'modern',
  modernPath,
  `at ${modernPath}`,
  [1, 21],
  "run .ci/install-pgbouncer-1.24.sh (builds it from Debian trixie's source package; .ci/run does it) " +
    'or set EVCO_PGBOUNCER_124 to a pgbouncer 1.21+ binary',
);

/**
 * `define` (the tests that run through `binary`) where `binary` can run here; where it cannot,
 * one test named `title` that fails saying how to get it. Never skipped: the PgBouncers
 * production runs must not drop out of a test run counted as passing.
 */
export function withPgBouncer(binary: PgBouncerBinary, title: string, define: () => void): void {
  if (binary.missing === undefined) {
    define();
  } else {
    it(`${title}: PgBouncer ${binary.label} is available`, () => {
      throw new Error(binary.missing);
    });
  }
}

/** `version` (`1.24.1`) is `major.minor` or later. */
export function atLeast(version: string | undefined, major: number, minor: number): boolean {
  const [ma = 0, mi = 0] = (version ?? '').split('.').map(Number);
  return ma > major || (ma === major && mi >= minor);
}

export interface PgBouncer {
  /** `postgresql://<user>@127.0.0.1:<port>/<db>`: the test database through the pooler. */
  readonly url: string;
  /** `postgresql://<user>@127.0.0.1:<port>/pgbouncer`: its admin console (`SHOW STATS`, …). */
  readonly adminUrl: string;
  /** Stops the pooler and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections per (user, database). @default 5 */
  poolSize?: number;
  /** `ignore_startup_parameters`: what the pooler accepts and drops instead of refusing. */
  ignoreStartupParameters?: string[];
  /** `track_extra_parameters` (1.20+): parameters it accepts at startup and keeps per client. */
  trackExtraParameters?: string[];
  /** Which PgBouncer to run. @default SYSTEM_PGBOUNCER */
  binary?: PgBouncerBinary;
  /**
   * `max_prepared_statements` (1.21+; its default is 0 before 1.22, 200 since): the named
   * statements PgBouncer keeps per server connection; 0 passes them through untracked.
   * @default the binary's own default
   */
  maxPreparedStatements?: number;
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
  const binary = options.binary ?? SYSTEM_PGBOUNCER;
  if (binary.missing !== undefined || binary.path === undefined) throw new Error(binary.missing);
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
      `admin_users = ${user}`,
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 5}`,
      'max_client_conn = 200',
      ...(options.ignoreStartupParameters
        ? [`ignore_startup_parameters = ${options.ignoreStartupParameters.join(',')}`]
        : []),
      ...(options.trackExtraParameters
        ? [`track_extra_parameters = ${options.trackExtraParameters.join(',')}`]
        : []),
      ...(options.maxPreparedStatements !== undefined
        ? [`max_prepared_statements = ${options.maxPreparedStatements}`]
        : []),
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`);
  const identity = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  if (identity) chownSync(dir, identity.uid, identity.gid);

  const child = spawn(binary.path, [join(dir, 'pgbouncer.ini')], {
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
    adminUrl: `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/pgbouncer`,
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
