import { recordingLogger } from '@evco/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { routeDriverConsole } from '../src/driver-console.js';

const releases: Array<() => void> = [];
afterEach(() => {
  for (const release of releases.splice(0)) release();
  vi.restoreAllMocks();
});

function route(logger = recordingLogger()) {
  releases.push(routeDriverConsole(logger, 0));
  return logger;
}

describe("ioredis's own console lines go to the evco logger", () => {
  it('logs the password, ready-check and unhandled-error lines at warn, the AUTH arity one at error; nothing reaches the console', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const logger = route();
    console.warn('[WARN] Redis server does not require a password, but a password was supplied.');
    console.warn(
      "[WARN] This Redis server's `default` user does not require a password, but a password was supplied",
    );
    console.warn(
      `[ERROR] The server returned "wrong number of arguments for 'auth' command". You are probably passing both username and password to Redis version 5 or below.`,
    );
    console.warn(
      'Skipping the ready check because INFO command fails: "NOPERM this user has no permissions". You can disable ready check with "enableReadyCheck".',
    );
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:26380 via redis://:s3cret@127.0.0.1:26380');
    console.error('[ioredis] Unhandled error event:', refused.stack);
    expect(warn).not.toHaveBeenCalled();
    expect(error).not.toHaveBeenCalled();
    const entries = logger.lines.map((l) => JSON.parse(l) as { level: string; msg: string; driver: string });
    expect(entries.map((e) => [e.level, e.driver])).toEqual([
      ['warn', 'ioredis'],
      ['warn', 'ioredis'],
      ['error', 'ioredis'],
      ['warn', 'ioredis'],
      ['warn', 'ioredis'],
    ]);
    // One line each: the stack's first line, the password masked.
    expect(entries[4]!.msg).toBe(
      'ioredis: a connection without an error listener failed: Error: connect ECONNREFUSED 127.0.0.1:26380 via redis://:***@127.0.0.1:26380',
    );
    expect(logger.lines.join('\n')).not.toContain('s3cret');
  });

  it("passes anyone else's console lines through unchanged", () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const logger = route();
    console.warn('the app warns', 42);
    console.error(new Error('the app failed'));
    console.error('[WARN] not from ioredis: only console.warn carries those');
    expect(warn.mock.calls).toEqual([['the app warns', 42]]);
    expect(error).toHaveBeenCalledTimes(2);
    expect(logger.lines).toEqual([]);
  });

  it('says a repeated line once at its level, then at debug (a reconnect loop does not flood the log)', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const logger = route();
    for (let i = 0; i < 5; i++)
      console.warn('[WARN] Redis server does not require a password, but a password was supplied.');
    expect(logger.lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual([
      'warn',
      'debug',
      'debug',
      'debug',
      'debug',
    ]);
  });

  it('routes to the newest open logger and gives the console back once the last one is released', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const before = console.warn;
    const beforeError = console.error;
    const first = recordingLogger();
    const second = recordingLogger();
    const releaseFirst = routeDriverConsole(first, 0);
    const releaseSecond = routeDriverConsole(second, 0);
    expect(console.warn).not.toBe(before);
    console.warn('[WARN] Redis server does not require a password, but a password was supplied.');
    expect([first.lines.length, second.lines.length]).toEqual([0, 1]);
    releaseSecond();
    releaseSecond(); // idempotent: does not release the first one's route
    console.warn(
      "[WARN] This Redis server's `default` user does not require a password, but a password was supplied",
    );
    expect([first.lines.length, second.lines.length]).toEqual([1, 1]);
    releaseFirst();
    expect(console.warn).toBe(before);
    expect(console.error).toBe(beforeError);
    console.warn('[WARN] Redis server does not require a password, but a password was supplied.');
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it("keeps a closed publisher's route for its grace, saying its teardown at debug, then gives the console back", () => {
    // CI: a sentinel connection torn down after close() resolved printed '[ioredis] Unhandled error
    // event: … tlsv1 alert decode error' on the CLI's stderr: the console had been given back.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const error = vi.spyOn(console, 'error').mockImplementation(() => {});
      const before = console.error;
      const logger = recordingLogger();
      const release = routeDriverConsole(logger, 2_000);
      release();
      console.error('[ioredis] Unhandled error event:', 'Error: tlsv1 alert decode error\n    at frame');
      const late = logger.lines.map((l) => JSON.parse(l) as { level: string; msg: string });
      expect(late).toEqual([
        expect.objectContaining({ level: 'debug', msg: expect.stringContaining('tlsv1 alert decode error') }),
      ]);
      expect(error).not.toHaveBeenCalled();
      // A publisher opened meanwhile takes the lines at their level.
      const next = recordingLogger();
      const releaseNext = routeDriverConsole(next, 0);
      console.error('[ioredis] Unhandled error event:', 'Error: connect ECONNREFUSED');
      expect(next.lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['warn']);
      releaseNext();
      expect(console.error).not.toBe(before);
      vi.advanceTimersByTime(2_000);
      expect(console.error).toBe(before);
    } finally {
      vi.useRealTimers();
    }
  });
});
