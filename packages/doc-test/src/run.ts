/**
 * Runs a doc block as a newcomer runs a copied program: its own Node process (tsx, workspace
 * sources through the `@evco/source` condition) in an empty working directory, so files it creates
 * (`./events.db`) land there. It passes when it exits with 0 on its own: a program that leaves a
 * coordinator running, or throws, fails with the block's file and line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockLocation, type DocBlock } from './extract.js';

const TSX = createRequire(import.meta.url).resolve('tsx');

export interface RunOptions {
  /** The block's module file (see `writeBlocks`). */
  path: string;
  /** Working directory. @default a fresh temporary directory, removed afterwards */
  cwd?: string;
  /** Added to the environment. */
  env?: Record<string, string | undefined>;
  /** @default 60_000 */
  timeoutMs?: number;
}

export interface RunResult {
  ok: boolean;
  exitCode: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Empty when ok; else what went wrong, starting with the block's `file:line`. */
  failure: string;
}

const tail = (text: string, lines = 40) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** The first `// prints:` promise the output breaks, or undefined. */
function missingOutput(block: DocBlock, stdout: string): string | undefined {
  const lines = stdout.split('\n').map((l) => l.trim());
  let from = 0;
  for (const expected of block.prints) {
    const at = lines.indexOf(expected.text, from);
    if (at < 0) {
      return `${blockLocation(block, expected.line)}: the block did not print ${JSON.stringify(expected.text)} (its \`// prints:\` comment)${from > 0 ? ' after the lines before it' : ''}`;
    }
    from = at + 1;
  }
  return undefined;
}

export async function runBlock(block: DocBlock, options: RunOptions): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const cwd = options.cwd ?? mkdtempSync(join(tmpdir(), 'evco-doc-test-'));
  try {
    const child = spawn(process.execPath, ['--conditions=@evco/source', '--import', TSX, options.path], {
      cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve(code));
    }).finally(() => clearTimeout(timer));
    const problem = timedOut
      ? `${blockLocation(block)}: the block did not exit within ${timeoutMs} ms ` +
        '(does it leave a coordinator, a server or a timer running?)'
      : exitCode !== 0
        ? `${blockLocation(block)}: the block exited with code ${exitCode}`
        : missingOutput(block, stdout);
    const output = [stderr && `stderr:\n${tail(stderr)}`, stdout && `stdout:\n${tail(stdout)}`];
    const failure = problem ? [problem, ...output].filter(Boolean).join('\n') : '';
    const ok = !problem;
    return { ok, exitCode, timedOut, stdout, stderr, failure };
  } finally {
    if (!options.cwd) rmSync(cwd, { recursive: true, force: true });
  }
}
