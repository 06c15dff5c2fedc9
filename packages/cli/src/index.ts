export { runCli } from './cli.js';
export { describeFailure, EXIT } from './errors.js';
export type { CliIo } from './io.js';
export { processIo } from './io.js';
