/** Where a command writes: the process's streams, or buffers in tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Resolves when the user asks to stop (Ctrl-C); watching commands race it. */
  interrupted: Promise<void>;
  /**
   * Stops listening for Ctrl-C once the command is done, so that Ctrl-C ends the process again
   * (`prune` calls it itself, before reporting, when it gives up on a hung archive write). Safe to
   * call more than once.
   * A call the command gave up on may still hold one of Node's threads (an archive write to a
   * mount that stopped answering, cut off by `--archive-timeout`), and Node's exit waits for it.
   */
  release?(): void;
}

export function processIo(): CliIo {
  let onSignal: () => void = () => {};
  const interrupted = new Promise<void>((resolve) => {
    onSignal = resolve;
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    interrupted,
    release: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}
