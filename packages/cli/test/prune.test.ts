import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createSqliteStore } from '@evco/store-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import type { CliIo } from '../src/io.js';
import { tempStoreFile } from './support.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('evco prune --archive-timeout', () => {
  it('lets go of Ctrl-C before it reports the hung archive, so a Ctrl-C sent on seeing the line ends the process', async () => {
    // The bin releases the signal listeners only once runCli has resolved; a Ctrl-C sent as soon
    // as the line appears could land in between and be swallowed while Node's exit waits for the
    // archive's blocked open(). The command must let go first, then report.
    const file = tempStoreFile('evco-cli-prune-');
    const app = await createCoordinator({
      store: createSqliteStore({ filename: file }),
      publisher: createInProcPublisher(),
      logger: silentLogger,
    });
    const [published] = await app.publishEvents([
      { eventType: 'ArchiveHung', aggregateId: 'h1', occurredAt: '2001-01-01T00:00:00.000Z' },
    ]);
    await app.shutdown();
    const dir = mkdtempSync(join(tmpdir(), 'evco-cli-prune-hung-'));
    dirs.push(dir);
    // The archiver's temporary file is a FIFO nobody reads: its open() blocks in Node's thread
    // pool until something opens the other end (done below, so the test ends cleanly).
    const fifo = join(dir, `events-2001-01-01T000000000Z-${published!.position}-1.ndjson.tmp`);
    execFileSync('mkfifo', [fifo]);

    const order: string[] = [];
    const stderr = new PassThrough();
    stderr.on('data', (d: Buffer) => order.push(`stderr: ${String(d).trim()}`));
    const io: CliIo = {
      stdout: new PassThrough(),
      stderr,
      env: {},
      interrupted: new Promise(() => {}),
      release: () => order.push('release'),
    };
    try {
      const code = await runCli(
        [
          'prune',
          '--before',
          '2002-01-01',
          '--sqlite',
          file,
          '--archive-dir',
          dir,
          '--archive-timeout',
          '200ms',
        ],
        io,
      );
      expect(code).toBe(1);
      const line = order.findIndex((o) => o.includes('--archive-timeout 200ms'));
      expect(line, order.join('\n')).toBeGreaterThan(-1);
      expect(order.indexOf('release'), order.join('\n')).toBeGreaterThan(-1);
      expect(order.indexOf('release'), order.join('\n')).toBeLessThan(line);
    } finally {
      // Unblock the archive's open() (a reader on the FIFO), so the thread pool is freed.
      execFileSync('sh', ['-c', `cat '${fifo}' > /dev/null & sleep 0.2; kill $! 2>/dev/null; true`]);
    }
  });
});
