import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { short, toJson } from '../src/output.js';
import { capturedContext } from './support.js';

/** Runs the command line in-process, keeping stdout and stderr. */
async function evco(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { ctx, out } = capturedContext({});
  let err = '';
  ctx.io.stderr.on('data', (d) => {
    err += d;
  });
  const code = await runCli(argv, ctx.io);
  return { code, out: out(), err };
}

describe('evco --version', () => {
  it("prints @evco/cli's own version, not the one of whatever package.json is found above yargs", async () => {
    // yargs looks for package.json from the directory holding its node_modules: in a project that
    // installed @evco/cli (or in this workspace) that is the project's, so --version said the
    // application's version, or "unknown" where that package.json has none.
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const { code, out, err } = await evco(['--version']);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(out).toBe(`${pkg.version}\n`);
  });
});

describe('the watching commands check their numbers before the store is opened', () => {
  // A store file that does not exist: had the command reached the store, it would say "no SQLite
  // file" instead of naming the flag. Before, --interval 0, -5 or abc polled the store in a tight
  // loop (sleep(0) and sleep(NaN) are 1 ms), --limit 0 printed one event and --limit abc never
  // stopped.
  const missing = '/nonexistent-evco-cli-dir/events.db';
  it.each([
    [
      ['tail', '--interval', '0'],
      /^evco: --interval must be a whole number of milliseconds from 5 to 3600000, got 0\n$/,
    ],
    [['tail', '--interval', '-5'], /^evco: --interval must be .*, got -5\n$/],
    [['tail', '--interval', '1.5'], /^evco: --interval must be .*, got 1\.5\n$/],
    [['tail', '--interval', 'abc'], /^evco: --interval must be .*, got something that is not a number\n$/],
    [['tail', '--limit', '0'], /^evco: --limit must be a whole number of events, at least 1, got 0\n$/],
    [['tail', '--limit', 'abc'], /^evco: --limit must be .*, got something that is not a number\n$/],
    [
      ['tail', '--cursor', 'abc'],
      /^evco: --cursor must be a position \(a decimal integer as listed\), got "abc"\n$/,
    ],
    [['tail', '--cursor', '-1'], /^evco: --cursor must be a position .*, got "-1"\n$/],
    [
      ['tail', '--cursor', '12', '--from-start'],
      /^evco: --cursor and --from-start both say where to begin; give one\n$/,
    ],
    [['replay', '--from', '2h', '--to', 'now', '--interval', '0'], /^evco: --interval must be .*, got 0\n$/],
    [
      ['replay', '--from', '2h', '--to', 'now', '--type', 'A', '--type', 'B'],
      /^evco: --type takes one event type for a replay \(got 2: A, B\); replay each type on its own, or give no --type for all\n$/,
    ],
  ])('evco %j is exit 2 naming the flag', async (argv, message) => {
    const { code, err, out } = await evco([...argv, '--sqlite', missing]);
    expect(err).toMatch(message);
    expect(code).toBe(2);
    expect(out).toBe('');
  });

  it('the defaults and good values still run (and a good one reaches the store)', async () => {
    const { code, err } = await evco([
      'tail',
      '--interval',
      '50',
      '--limit',
      '3',
      '--cursor',
      '7',
      '--sqlite',
      missing,
    ]);
    expect(code).toBe(2);
    expect(err).toMatch(/^evco: no SQLite file at /);
  });
});

describe("yargs' refusals, worded once", () => {
  it.each([
    [[], 'evco: name a command (see evco --help)\n'],
    [['status', '--databse-url', 'x'], 'evco: unknown command or option: --databse-url (see evco --help)\n'],
    [
      ['history', '--agregate', 'a', '--no-foo', 'extra'],
      'evco: unknown command or option: --agregate, --no-foo, extra (see evco --help)\n',
    ],
    [['stauts'], 'evco: Did you mean status? (see evco --help)\n'],
  ])('evco %j', async (argv, line) => {
    // Before: the hint twice for no command, and a mistyped option twice (as typed and camelCased:
    // "databse-url, databseUrl"), without its dashes.
    const { code, err } = await evco(argv);
    expect(code).toBe(2);
    expect(err).toBe(line);
  });
});

describe("a delivery's last error as shown", () => {
  // Core masks what a handler threw before recording it; a row recorded by an older core (or a
  // process of the fleet still on one) holds it as thrown. The Fastify plugin masks it when
  // answering; before, dead-letters, unprocessed and event printed the password.
  const raw = 'Error: connect failed: postgresql://app:s3cret-pw@db/shop password=hunter2 refused';

  it('in a table cell (dead-letters, unprocessed, event)', () => {
    expect(short(raw, 200)).toBe('Error: connect failed: postgresql://app:***@db/shop password=*** refused');
  });

  it('in --json, under lastError at any depth, and nothing else touched', () => {
    const text = toJson({
      deadLetters: [
        { event: { eventData: { note: 'password=kept-as-sent' } }, delivery: { lastError: raw } },
      ],
    });
    expect(text).not.toContain('s3cret-pw');
    expect(text).not.toContain('hunter2');
    expect(JSON.parse(text).deadLetters[0]).toEqual({
      event: { eventData: { note: 'password=kept-as-sent' } },
      delivery: { lastError: 'Error: connect failed: postgresql://app:***@db/shop password=*** refused' },
    });
  });
});
