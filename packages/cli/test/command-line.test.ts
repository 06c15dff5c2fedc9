import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
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
