/**
 * `pnpm demo:story` against a real listening demo (memory store, in-process publisher): the HTTP
 * story must leave every module exactly as the in-process story does, so it is checked with the
 * same assertions (`assertStory` from ./story.ts).
 */
import type { RecordedEvent } from '@evco/core';
import { afterEach, describe, expect, it } from 'vitest';
import { runHttpStory, StoryError } from '../src/story.js';
import { createTestApp, type TestApp } from './helpers.js';
import { assertReplayChangesNothing, assertStory, type StoryObservation } from './story.js';

let t: TestApp | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function flowEvents(
  t: TestApp,
  aggregates: Set<string>,
  correlationId: string,
): Promise<RecordedEvent[]> {
  const all = await t.coordinator().getEventHistory({ limit: 10_000 });
  return all.filter((e) => aggregates.has(e.aggregateId) || e.metadata.correlationId === correlationId);
}

describe('pnpm demo:story', () => {
  it('drives the cross-module story over HTTP and prints the chain as it unfolds', async () => {
    t = await createTestApp({ EVCO_LOG_LEVEL: 'warn' });
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { deps, coordinator } = t.runtime();
    // As in the in-process story: the metering backend hiccups once, evco's retry rides it out.
    deps.usage.simulateOutage(1);

    const lines: string[] = [];
    const result = await runHttpStory({
      baseUrl: address,
      write: (line) => lines.push(line),
      pollIntervalMs: 20,
    });

    const aggregates = new Set([
      result.userId,
      ...(await deps.subscriptions.listByUser(result.userId)).map((s) => s.subscriptionId),
      ...Object.values(result.executions),
      result.content.approved,
      result.content.rejected,
    ]);
    const observation: StoryObservation = {
      ...result,
      events: await flowEvents(t, aggregates, result.rootEventId),
    };
    await assertStory(coordinator, deps, observation);

    // What was printed is the stored flow, in order, each with its module, correlation and cause.
    const chain = lines.filter((l) => /^\s+#\s*\d+/.test(l));
    expect(chain).toHaveLength(observation.events.length);
    expect(result.events.map((e) => e.id)).toEqual(observation.events.map((e) => e.id));
    expect(chain[0]).toMatch(
      /^ {2}#1 +UserRegistered +user +posted +correlation …\w{8} +causation — +\(root of the flow\)$/,
    );
    expect(chain[1]).toMatch(
      /^ {2}#2 +SubscriptionActivated +subscription +reaction .*causation …\w{8} = #1 UserRegistered$/,
    );
    expect(chain.find((l) => l.includes('SubscriptionExpired'))).toMatch(
      /reaction .*= #\d+ UserStatusChanged$/,
    );
    for (const line of chain) expect(line).toContain(`correlation …${result.rootEventId.slice(-8)}`);
    expect(lines.at(-1)).toMatch(/15 events \(10 posted, 5 reactions\) from 4 modules/);

    await assertReplayChangesNothing(coordinator, deps, observation);
  });

  it('says how to start the demo when none answers', async () => {
    const attempt = runHttpStory({ baseUrl: 'http://127.0.0.1:1', write: () => {} });
    await expect(attempt).rejects.toThrow(StoryError);
    await expect(attempt).rejects.toThrow(/pnpm demo/);
  });
});
