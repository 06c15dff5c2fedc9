import type { ReplayReport } from '@evco/core';
import { describe, expect, it } from 'vitest';
import { untilQueued } from '../src/commands/replay.js';
import { capturedContext } from './support.js';

/** A replay job seen at successive polls: still queueing pages, then every page queued. */
function job(status: 'running' | 'done', eventsMatched: number): ReplayReport {
  return {
    id: 'r1',
    status,
    eventsMatched,
    deliveriesQueued: eventsMatched,
    deliveriesOpen: eventsMatched,
    deliveriesDead: 0,
    done: false,
    truncated: false,
    pruned: [],
  } as unknown as ReplayReport;
}

describe('evco replay --detach', () => {
  it('reports progress while pages are queued, once per change and worded as progress, not as a result', async () => {
    const polls = [job('running', 0), job('running', 0), job('running', 4), job('done', 10)];
    const { ctx } = capturedContext({ sqlite: ':memory:' });
    let stderr = '';
    ctx.io.stderr.on('data', (d) => {
      stderr += d;
    });
    const admin = { getReplay: async () => polls.shift() };
    const done = await untilQueued(ctx, admin as never, 'r1', 1);
    await new Promise((r) => setImmediate(r));
    expect(done.eventsMatched).toBe(10);
    expect(stderr).toBe('queueing: 0 events matched so far\nqueueing: 4 events matched so far\n');
  });
});
