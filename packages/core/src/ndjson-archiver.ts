import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidOptionsError } from './errors.js';
import type { RecordedEvent } from './event.js';
import type { ArchiveHook } from './retention.js';

export interface NdjsonFileArchiverOptions {
  /** Directory the files go to, created when missing. */
  dir: string;
  /** Start of each file name. @default 'events' */
  prefix?: string | undefined;
  /**
   * Permission bits of each file, set whatever the umask: archived events may hold personal
   * data, so only the owner reads them unless a group is meant to (e.g. `0o640`). @default 0o600
   */
  mode?: number | undefined;
}

/**
 * An archive hook that writes each batch to its own newline-delimited JSON file (one event per
 * line, as `JSON.stringify` gives it: positions as strings, dates in ISO-8601 UTC) and returns
 * only once the file is on disk: written to a temporary name, fsynced, renamed into place, and
 * the directory fsynced. A crash leaves either the whole file or none (a `.tmp` at most).
 *
 * Files are created readable by their owner only (`mode`, default `0o600`): archived events may
 * hold personal data. Files are named `<prefix>-<occurredAt of the first event>-<its position>-<count>.ndjson`, so a
 * listing sorts by time. A batch archived again (its removal failed after the archive) writes
 * the same name again.
 *
 * ```ts
 * await createCoordinator({ store, publisher, retention: { maxAge: 90 * DAY, archive: ndjsonFileArchiver({ dir: '/var/lib/app/archive' }) } });
 * ```
 */
export function ndjsonFileArchiver(options: NdjsonFileArchiverOptions | string): ArchiveHook {
  const { dir, prefix = 'events', mode = 0o600 } = typeof options === 'string' ? { dir: options } : options;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new InvalidOptionsError('ndjsonFileArchiver options', [
      { path: 'mode', message: 'must be permission bits between 0 and 0o777, e.g. 0o600' },
    ]);
  }
  let ready: Promise<unknown> | undefined;
  return async (events: readonly RecordedEvent[]) => {
    if (events.length === 0) return;
    ready ??= mkdir(dir, { recursive: true }).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    await ready;
    const first = events[0]!;
    const stamp = first.occurredAt.toISOString().replaceAll(':', '').replace('.', '');
    const name = `${prefix}-${stamp}-${first.position}-${events.length}.ndjson`;
    const file = join(dir, name);
    const tmp = `${file}.tmp`;
    const body = `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
    const handle = await open(tmp, 'w', mode);
    try {
      // open's mode goes through the umask and does not apply to a leftover .tmp: set it exactly,
      // before anything is written.
      await handle.chmod(mode);
      await handle.writeFile(body, 'utf8');
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => {});
      await rm(tmp, { force: true });
      throw error;
    }
    await handle.close();
    await rename(tmp, file);
    // The rename is only durable once the directory entry is.
    const directory = await open(dir, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  };
}
