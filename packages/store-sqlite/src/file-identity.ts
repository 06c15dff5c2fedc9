import { statSync } from 'node:fs';
import { resolve } from 'node:path';

/** Where the file a store opened is now: still at its path, gone, or another file in its place. */
export type FileState = 'present' | 'deleted' | 'replaced';

/**
 * The device and inode a path named when the store opened it.
 *
 * An open SQLite connection keeps writing to its file after the file is deleted or renamed:
 * every commit succeeds into an inode no path leads to any more, and a process that opens the
 * path next creates a new, empty database. Comparing the path's inode with the one opened
 * (a `stat`, a few microseconds) catches both before a write, so the store fails loudly
 * instead of acknowledging events that are already lost.
 *
 * Deliberately a `stat` of the path and not an extra descriptor on the file: closing any
 * descriptor of a SQLite file drops the POSIX locks the connection holds on it.
 */
export class FileIdentity {
  readonly path: string;
  readonly #dev: bigint;
  readonly #ino: bigint;

  private constructor(path: string, dev: bigint, ino: bigint) {
    this.path = path;
    this.#dev = dev;
    this.#ino = ino;
  }

  /** The identity of the file at `path` now, or undefined when there is none to watch. */
  static of(path: string): FileIdentity | undefined {
    const absolute = resolve(path);
    const stats = statSync(absolute, { bigint: true, throwIfNoEntry: false });
    return stats?.isFile() ? new FileIdentity(absolute, stats.dev, stats.ino) : undefined;
  }

  /** Both name the same file (device and inode), whatever the paths. */
  sameFile(other: FileIdentity): boolean {
    return this.#dev === other.#dev && this.#ino === other.#ino;
  }

  check(): FileState {
    let stats: ReturnType<typeof statSync>;
    try {
      stats = statSync(this.path, { bigint: true, throwIfNoEntry: false });
    } catch {
      // No permission to look (a directory made unreadable): SQLite reports its own errors.
      return 'present';
    }
    if (!stats) return 'deleted';
    return stats.dev === this.#dev && stats.ino === this.#ino ? 'present' : 'replaced';
  }
}
