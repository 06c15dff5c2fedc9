/**
 * `pnpm demo:story`: runs the cross-module story against a running demo
 * (`EVCO_DEMO_URL`, default http://127.0.0.1:3000) and prints the chain of events.
 */
import { runHttpStory, StoryError } from './story.js';

const baseUrl = process.env.EVCO_DEMO_URL?.trim() || 'http://127.0.0.1:3000';
// `pnpm demo:story | head` closes the pipe early: that is the reader's choice, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
try {
  await runHttpStory({ baseUrl });
} catch (error) {
  if (!(error instanceof StoryError)) throw error;
  process.stderr.write(`evco story: ${error.message}\n`);
  process.exit(1);
}
