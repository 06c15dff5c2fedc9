import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_SQLITE_FILE, describeConfig, loadConfig } from '../src/config.js';
import { STACK_FRAME } from './helpers.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('defaults to the embedded setup: SQLite under ./.evco, in-process publisher, 127.0.0.1:3000', () => {
    expect(loadConfig({})).toEqual({
      host: '127.0.0.1',
      port: 3000,
      store: { kind: 'sqlite', filename: DEFAULT_SQLITE_FILE },
      publisher: { kind: 'inproc' },
      adminToken: undefined,
      logLevel: 'info',
      logFormat: 'auto',
      bodyLimitBytes: 1024 * 1024,
      shutdownTimeoutMs: 10_000,
      handlerDelayMs: 0,
    });
    // Empty means unset, as in an env file with `DATABASE_URL=`.
    expect(loadConfig({ DATABASE_URL: '', REDIS_URL: ' ', PORT: '' })).toMatchObject({
      port: 3000,
      store: { kind: 'sqlite' },
      publisher: { kind: 'inproc' },
    });
  });

  it('picks Postgres, Redis or SQLite from the URLs', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgresql://app:pw@db:5432/app',
      REDIS_URL: 'rediss://:pw@cache:6380/2',
      EVCO_DATABASE_SCHEMA: 'demo_1',
      EVCO_REDIS_CHANNEL_PREFIX: 'demo-1',
      HOST: '0.0.0.0',
      PORT: '0',
    });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 0,
      store: { kind: 'postgres', url: 'postgresql://app:pw@db:5432/app', schema: 'demo_1' },
      publisher: { kind: 'redis', url: 'rediss://:pw@cache:6380/2', channelPrefix: 'demo-1' },
    });
    expect(loadConfig({ DATABASE_URL: 'postgres://db/app' }).store.kind).toBe('postgres');
    expect(loadConfig({ DATABASE_URL: 'sqlite:./data/e.db' }).store).toEqual({
      kind: 'sqlite',
      filename: './data/e.db',
    });
    expect(loadConfig({ DATABASE_URL: 'sqlite:///var/lib/e.db' }).store).toEqual({
      kind: 'sqlite',
      filename: '/var/lib/e.db',
    });
    expect(loadConfig({ DATABASE_URL: './events.db' }).store).toEqual({
      kind: 'sqlite',
      filename: './events.db',
    });
    expect(loadConfig({ DATABASE_URL: '/tmp/x/events.db' }).store).toEqual({
      kind: 'sqlite',
      filename: '/tmp/x/events.db',
    });
  });

  it('says what to fix, for every bad variable at once', () => {
    const problems = problemsOf({
      PORT: '70000',
      HOST: 'bad host!',
      DATABASE_URL: 'mysql://root:hunter2@db/app',
      REDIS_URL: 'http://cache:6379',
      EVCO_ADMIN_TOKEN: 'short',
      EVCO_LOG_LEVEL: 'loud',
      EVCO_BODY_LIMIT_BYTES: '12',
    });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'DATABASE_URL',
      'EVCO_ADMIN_TOKEN',
      'EVCO_BODY_LIMIT_BYTES',
      'EVCO_LOG_LEVEL',
      'HOST',
      'PORT',
      'REDIS_URL',
    ]);
    const text = problems.join('\n');
    expect(text).toContain('PORT: must be at most 65535');
    expect(text).toContain('"mysql:" is not supported');
    expect(text).toContain('EVCO_ADMIN_TOKEN: must be at least 16 characters');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('short');
  });

  it('rejects ports and URLs that cannot work', () => {
    expect(problemsOf({ PORT: 'abc' })).toEqual([
      expect.stringMatching(/^PORT: must be a whole number from 0 to 65535/),
    ]);
    expect(problemsOf({ PORT: '-1' })).toHaveLength(1);
    expect(problemsOf({ PORT: '3000.5' })).toHaveLength(1);
    expect(problemsOf({ DATABASE_URL: 'postgresql://app:s3cret@:5432/app' })).toEqual([
      'DATABASE_URL: postgresql://app:***@:5432/app is not a valid URL; expected postgresql://user:password@host:5432/database',
    ]);
    expect(problemsOf({ DATABASE_URL: 'postgresql:///app' })).toEqual([
      expect.stringContaining('names no host'),
    ]);
    expect(problemsOf({ DATABASE_URL: 'postgresql://app:s3cret@db:port/app' })[0]).not.toContain('s3cret');
    expect(problemsOf({ DATABASE_URL: 'sqlite:' })).toEqual([expect.stringContaining('names no file')]);
    expect(problemsOf({ REDIS_URL: 'redis://' })).toEqual([expect.stringContaining('names no host')]);
    expect(problemsOf({ REDIS_URL: 'redis://:pw@cache:6379/x' })).toEqual([
      expect.stringContaining('must be a number'),
    ]);
    expect(problemsOf({ EVCO_DATABASE_SCHEMA: 'Bad-Schema' })).toEqual([
      expect.stringContaining('EVCO_DATABASE_SCHEMA'),
    ]);
  });

  it('describes the setup with passwords masked and the token left out', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgresql://app:s3cret@db:5432/app?sslmode=require',
      REDIS_URL: 'redis://default:r3dis@cache:6379',
      EVCO_ADMIN_TOKEN: 'a-very-long-admin-token-value',
    });
    const described = describeConfig(config);
    expect(described).toEqual({
      store: {
        kind: 'postgres',
        location: 'postgresql://app:***@db:5432/app?sslmode=require',
        schema: 'evco',
      },
      publisher: { kind: 'redis', location: 'redis://default:***@cache:6379', channelPrefix: 'evco' },
      adminRoutes: 'on',
    });
    expect(describeConfig(loadConfig({})).store.location).toBe(resolve(DEFAULT_SQLITE_FILE));
  });
});

// Each case starts a real process through tsx's loader: seconds alone, more on a loaded machine.
describe('main with a bad configuration', { timeout: 90_000 }, () => {
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--conditions=@evco/source', 'src/main.ts'], {
      cwd: resolve(import.meta.dirname, '..'),
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      timeout: 80_000,
    });

  it('exits 1 with one line per problem, no stack trace and no password', () => {
    const result = run({ PORT: 'eighty', DATABASE_URL: 'mysql://root:hunter2@db/app' });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('evco demo: invalid configuration:');
    expect(result.stderr).toContain('  - PORT: must be a whole number from 0 to 65535 (got "eighty")');
    expect(result.stderr).toContain('  - DATABASE_URL: the scheme "mysql:" is not supported');
    expect(result.stderr).not.toContain('hunter2');
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });

  it('exits 1 when Postgres is unreachable at start, naming it without the password', () => {
    // Port 1 on localhost: refused at once, no service needed.
    const result = run({
      PORT: '0',
      DATABASE_URL: 'postgresql://demo:hunter2@127.0.0.1:1/app',
      EVCO_LOG_LEVEL: 'silent',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/evco demo: could not start: .*127\.0\.0\.1:1/);
    expect(`${result.stdout}${result.stderr}`).not.toContain('hunter2');
    expect(result.stderr).not.toMatch(STACK_FRAME);
  });
});
