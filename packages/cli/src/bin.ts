#!/usr/bin/env node
import { runCli } from './cli.js';
import { processIo } from './io.js';

// A closed pipe (`evco history | head`) ends the output, not with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}
// Exit once output is flushed (a pipe to `head` or `jq` must get everything), not by force.
// (No top-level await: the build also emits a CommonJS copy of this file.)
const io = processIo();
void runCli(process.argv.slice(2), io).then((code) => {
  process.exitCode = code;
  // Ctrl-C and SIGTERM end the process again: Node's exit waits for a file system call still
  // blocked in its thread pool (an archive write cut off by --archive-timeout on a hung mount),
  // and the operator must be able to stop that wait.
  io.release?.();
  // Watching commands leave a SIGINT listener; nothing else should keep the process alive.
  setImmediate(() => process.exit(code)).unref();
});
