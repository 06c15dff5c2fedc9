import { PassThrough } from 'node:stream';
import { createCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createSqliteStore } from '@evco/store-sqlite';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import type { CliIo } from '../src/io.js';
import { tempStoreFile } from './support.js';

/** A SQLite store with `n` dead letters of handler `audit`; returns the file and their delivery ids. */
async function deadLetters(n: number): Promise<{ file: string; ids: string[] }> {
  const file = tempStoreFile('evco-cli-retry-');
  const app = await createCoordinator({
    store: createSqliteStore({ filename: file }),
    publisher: createInProcPublisher(),
    logger: silentLogger,
  });
  await app.registerHandler(
    'Audited',
    async function audit() {
      throw new Error('audit service down');
    },
    { retry: { maxAttempts: 1 } },
  );
  await app.publishEvents(
    Array.from({ length: n }, (_, i) => ({ eventType: 'Audited', aggregateId: `a${i}` })),
  );
  await app.waitForIdle();
  const dead = await app.getDeadLetters({ limit: 100 });
  await app.shutdown();
  return { file, ids: dead.map((d) => d.delivery.deliveryId) };
}

async function evco(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    env: {},
    interrupted: new Promise(() => {}),
  };
  io.stdout.on('data', (d) => {
    stdout += d;
  });
  io.stderr.on('data', (d) => {
    stderr += d;
  });
  const code = await runCli(argv, io);
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr };
}

describe('evco retry ID…: ids that named no dead letter', () => {
  it('lists them (--json: unmatched, in the order given; stderr: one line) and exits 3, the others retried', async () => {
    const { file, ids } = await deadLetters(3);
    expect(ids).toHaveLength(3);
    const r = await evco(['retry', ids[0]!, 'no-such-1', ids[1]!, 'no-such-2', '--json', '--sqlite', file]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({ retried: 2, unmatched: ['no-such-1', 'no-such-2'] });
    expect(r.stderr).toBe(
      'evco: 2 of the 4 delivery ids named no dead letter (handled, retried already, retired, or mistyped; see evco dead-letters): no-such-1, no-such-2\n',
    );
    // The two were re-driven; the third is still dead. Given again, the two match nothing.
    const again = await evco(['retry', ids[0]!, ids[1]!, ids[2]!, '--sqlite', file]);
    expect(again.code).toBe(3);
    expect(again.stdout).toBe('retried 1 dead letter\n');
    expect(again.stderr).toBe(
      `evco: 2 of the 3 delivery ids named no dead letter (handled, retried already, retired, or mistyped; see evco dead-letters): ${ids[0]}, ${ids[1]}\n`,
    );
  });

  it('exits 0 with unmatched: [] when every id matched, an id given twice counted once', async () => {
    const { file, ids } = await deadLetters(2);
    const r = await evco(['retry', ids[0]!, ids[1]!, ids[0]!, '--json', '--sqlite', file]);
    expect(r).toEqual({
      code: 0,
      stdout: `${JSON.stringify({ retried: 2, unmatched: [] }, null, 2)}\n`,
      stderr: '',
    });
  });

  it('with --handler, an id of another handler or of no dead letter is unmatched', async () => {
    const { file, ids } = await deadLetters(1);
    const r = await evco(['retry', ids[0]!, '--handler', 'audit', '--json', '--sqlite', file]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ retried: 1, unmatched: [] });
    const none = await evco(['retry', 'ghost', '--handler', 'audit', '--sqlite', file]);
    expect(none).toMatchObject({ code: 3, stdout: 'retried 0 dead letters\n' });
    expect(none.stderr).toMatch(/^evco: 1 of the 1 delivery ids named no dead letter of audit .*: ghost\n$/);
  });

  it('names the first 20 on stderr and counts the rest (--json lists every one)', async () => {
    const { file } = await deadLetters(0);
    const ghosts = Array.from({ length: 25 }, (_, i) => `ghost-${i}`);
    const r = await evco(['retry', ...ghosts, '--json', '--sqlite', file]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({ retried: 0, unmatched: ghosts });
    expect(r.stderr).toMatch(/: ghost-0, ghost-1, .*, ghost-19 and 5 more \(--json lists them all\)\n$/);
    expect(r.stderr.split('\n')).toHaveLength(2);
    // An id with a newline or another control character stays on the one line.
    const odd = await evco(['retry', 'two\nlines\u001b[31m', '--sqlite', file]);
    expect(odd.code).toBe(3);
    expect(odd.stderr).toMatch(/: two\?lines\?\[31m\n$/);
  });
});
