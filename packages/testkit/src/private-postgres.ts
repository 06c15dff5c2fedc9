import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const run = promisify(execFile);

/**
 * A PostgreSQL server of the test's own (initdb + pg_ctl in a temporary directory, on a free
 * port), for tests that crash or restart the database: they must never do that to the shared
 * server other suites use.
 */
export interface PrivatePostgres {
  readonly port: number;
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` (trust authentication). */
  readonly url: string;
  /** Starts the server (again) on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /**
   * Stops it at once, as a crash would (`pg_ctl stop -m immediate`: no checkpoint, connections
   * cut); the next `start()` recovers from the WAL.
   */
  crash(): Promise<void>;
  /** Stops the server and deletes its directory. Idempotent. */
  destroy(): Promise<void>;
  readonly running: boolean;
  /** The server log so far, for assertion messages. */
  log(): string;
}

export interface PrivatePostgresOptions {
  /**
   * Where `initdb` and `pg_ctl` are. @default `EVCO_PG_BIN`, else `pg_config --bindir`, else the
   * newest `/usr/lib/postgresql/<version>/bin`
   */
  binDir?: string | undefined;
}

/**
 * Creates and starts the server. As root, the server runs as the `postgres` system user
 * (PostgreSQL refuses to run as root).
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = options.binDir ?? findBinDir();
  const asUser = process.getuid?.() === 0 ? postgresUser() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'evco-pg-'));
  if (asUser) chownSync(dir, asUser.uid, asUser.gid);
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  const exec = (tool: string, args: string[]) => {
    const file = join(bin, tool);
    return asUser ? run('runuser', ['-u', 'postgres', '--', file, ...args]) : run(file, args);
  };
  const execSync = (tool: string, args: string[]) => {
    const file = join(bin, tool);
    return asUser
      ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'ignore' })
      : execFileSync(file, args, { stdio: 'ignore' });
  };
  // Durability of the OS is not under test (the machine never crashes, the server does):
  // fsync off keeps start, restart and WAL recovery fast on a loaded CI machine.
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  let running = false;

  try {
    await exec('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `cannot create a private PostgreSQL with ${join(bin, 'initdb')} (set EVCO_PG_BIN to the directory of initdb and pg_ctl): ${(error as Error).message}`,
    );
  }

  const server: PrivatePostgres = {
    port,
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    get running() {
      return running;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async start() {
      if (running) return;
      try {
        await exec('pg_ctl', ['-D', data, '-l', logFile, '-o', serverOptions, '-w', '-t', '120', 'start']);
      } catch (error) {
        throw new Error(`the private PostgreSQL did not start: ${(error as Error).message}\n${server.log()}`);
      }
      running = true;
    },
    async crash() {
      if (!running) return;
      running = false;
      await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    },
    async destroy() {
      process.off('exit', stopOnExit);
      if (running) {
        running = false;
        await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // pg_ctl daemonizes the server: stop it even when the test run ends without destroy().
  const stopOnExit = () => {
    if (!running) return;
    try {
      execSync('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already gone.
    }
  };
  process.once('exit', stopOnExit);
  await server.start();
  return server;
}

function findBinDir(): string {
  if (process.env.EVCO_PG_BIN) return process.env.EVCO_PG_BIN;
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // No pg_config on PATH (Debian keeps the server tools out of it).
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return join(root, versions[0], 'bin');
  throw new Error('cannot find initdb and pg_ctl: install PostgreSQL or set EVCO_PG_BIN to their directory');
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root: a private PostgreSQL needs the "postgres" system user to run as');
  }
}
