/**
 * The harness itself, on fixture Markdown: a block that does not compile, throws, never exits or
 * breaks its `// prints:` promise fails with the Markdown file and line; markers are obeyed; a
 * marker that is unknown, lacks its reason or precedes no block is an error naming its line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type DocBlock, DocTestError, extractBlocks } from '../src/extract.js';
import { runBlock } from '../src/run.js';
import { typecheckBlocks, writeBlocks } from '../src/typecheck.js';
import { blockDir } from './workspace.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const blocks = extractBlocks(fixture('broken.md'), 'broken.md');
const at = (line: number): DocBlock => {
  const block = blocks.find((b) => b.line === line);
  if (!block) throw new Error(`no fixture block at line ${line}`);
  return block;
};
const work = blockDir('harness');
const paths = writeBlocks(blocks, work.dir);
afterAll(() => work.remove());

describe('extracting blocks', () => {
  it('finds every ts/typescript block with its line, marker and promised output', () => {
    expect(blocks.map((b) => [b.line, b.mode, b.reason])).toEqual([
      [4, 'run', undefined],
      [9, 'run', undefined],
      [13, 'run', undefined],
      [17, 'run', undefined],
      [21, 'run', undefined],
      [26, 'no-run', 'it throws, but is only type-checked'],
      [32, 'run', undefined],
    ]);
    expect(at(4).prints).toEqual([{ line: 2, text: '42' }]);
    expect(at(32).indent).toBe(2);
  });

  it.each([
    ['no-reason.md', 'no-reason.md:3: the doc-test marker "no-run" needs a reason'],
    // No opt-out from type-checking: a block that cannot compile is not documentation.
    ['skip-marker.md', 'skip-marker.md:3: unknown doc-test marker'],
    ['unknown-marker.md', 'unknown-marker.md:1: unknown doc-test marker'],
    ['dangling-marker.md', 'dangling-marker.md:1: the doc-test marker is not followed by a ```ts block'],
  ])('%s is an error naming the marker line', (name, message) => {
    expect(() => extractBlocks(fixture(name), name)).toThrow(DocTestError);
    expect(() => extractBlocks(fixture(name), name)).toThrow(message);
  });
});

describe('type-checking blocks', () => {
  it('reports a type error at its Markdown file, line and column, and nothing for good blocks', () => {
    const diagnostics = typecheckBlocks(paths, FIXTURES);
    expect(diagnostics.get(at(4))).toEqual([]);
    expect(diagnostics.get(at(26))).toEqual([]);
    expect(diagnostics.get(at(9))).toEqual([
      "broken.md:9:7 TS2322: Type 'string' is not assignable to type 'number'.",
    ]);
    // Inside a list item, the column counts the item's indentation.
    expect(diagnostics.get(at(32))).toEqual([
      "broken.md:32:9 TS2322: Type 'number' is not assignable to type 'string'.",
    ]);
  }, 120_000);
});

describe('running blocks', () => {
  const run = (line: number, timeoutMs?: number) =>
    runBlock(at(line), { path: paths.get(at(line))!, ...(timeoutMs ? { timeoutMs } : {}) });

  it('passes a block that exits 0 and prints what it promises', async () => {
    const result = await run(4);
    expect(result).toMatchObject({ ok: true, exitCode: 0, failure: '' });
    expect(result.stdout).toBe('42\n');
  }, 60_000);

  it('fails a block that throws, naming its file and line and showing the error', async () => {
    const result = await run(13);
    expect(result.ok).toBe(false);
    expect(result.failure).toMatch(/^broken\.md:13: the block exited with code 1\n/);
    expect(result.failure).toContain('boom at runtime');
  }, 60_000);

  it('fails a block that never exits', async () => {
    const result = await run(17, 3_000);
    expect(result).toMatchObject({ ok: false, timedOut: true });
    expect(result.failure).toMatch(/^broken\.md:17: the block did not exit within 3000 ms/);
  }, 60_000);

  it('fails a block that does not print what its `// prints:` comment promises, naming that line', async () => {
    const result = await run(21);
    expect(result).toMatchObject({ ok: false, exitCode: 0 });
    expect(result.failure).toMatch(/^broken\.md:21: the block did not print "the promised line"/);
  }, 60_000);
});
