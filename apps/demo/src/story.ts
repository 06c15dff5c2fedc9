/**
 * The cross-module story, driven through the HTTP API of a running demo (`pnpm demo:story`).
 * The same plot as the in-process story test: a user registers → the subscription module starts
 * a trial → the user runs two workflows, one fails and the workflow module retries it → the user
 * publishes two posts, moderation rejects one → an admin bans the user → every module reacts.
 *
 * The story plays the outside actors (the user's client, the workflow engine, the admin): it
 * POSTs their events, each with the flow's correlation and the event that prompted it as
 * causation, and follows `GET /evco/events` to print every event of the flow as it is stored,
 * including the ones the modules publish in reaction.
 */
import { randomUUID } from 'node:crypto';
import { moduleOf } from './event-catalog.js';

export interface StoryOptions {
  /** The demo, e.g. http://127.0.0.1:3000 */
  baseUrl: string;
  /** Where the story prints its lines. @default stdout */
  write?: (line: string) => void;
  /** Longest wait for one reaction. @default 30000 */
  stepTimeoutMs?: number;
  /** @default 100 */
  pollIntervalMs?: number;
}

/** An event as `GET /evco/events` returns it. */
export interface StoryEvent {
  id: string;
  eventType: string;
  aggregateId: string;
  eventData: Record<string, unknown>;
  metadata: Record<string, string | number>;
  occurredAt: string;
  recordedAt: string;
  position: string;
}

export interface StoryResult {
  startedAt: Date;
  userId: string;
  rootEventId: string;
  workflows: { report: string; sync: string };
  executions: { completed: string; failed: string; retry: string; cancelled: string };
  content: { approved: string; rejected: string };
  /** Cause of every event the story posted (event id → cause id). */
  actorCauses: Record<string, string>;
  /** Every event of the flow, in position order. */
  events: StoryEvent[];
}

export class StoryError extends Error {
  override name = 'StoryError';
}

interface EventInput {
  eventType: string;
  aggregateId: string;
  eventData: Record<string, unknown>;
  metadata?: Record<string, string>;
}

const short = (id: string | number | undefined) => (id === undefined ? '—' : `…${String(id).slice(-8)}`);

export async function runHttpStory(options: StoryOptions): Promise<StoryResult> {
  const base = options.baseUrl.replace(/\/+$/, '');
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const stepTimeoutMs = options.stepTimeoutMs ?? 30_000;
  const pollIntervalMs = options.pollIntervalMs ?? 100;

  async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new StoryError(
        `no demo answers at ${base} (${cause}). Start it in another terminal with \`pnpm demo\`, ` +
          'or point EVCO_DEMO_URL at a running one.',
      );
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new StoryError(
        `${method} ${path} answered ${res.status} ${error?.code ?? ''}: ${error?.message ?? text}`,
      );
    }
    return json as T;
  }

  await api('GET', '/evco/health/ready');
  const startedAt = new Date();
  const userId = randomUUID();
  const actorCauses: Record<string, string> = {};
  const posted = new Set<string>();
  const events: StoryEvent[] = [];
  const byId = new Map<string, StoryEvent>();
  let rootEventId: string | undefined;
  let cursor: string | undefined;

  write(`The story, through ${base}: every event of the flow as the demo stores it.`);
  write('  posted = published by the story as an outside actor; reaction = published by a module handler');
  write('');

  /** Flow number of each event (1 = the root), to name causes briefly. */
  const numberOf = new Map<string, number>();

  function print(e: StoryEvent): void {
    numberOf.set(e.id, numberOf.size + 1);
    const module = moduleOf(e.eventType) ?? '?';
    const causeId = e.metadata.causationId === undefined ? undefined : String(e.metadata.causationId);
    const cause = causeId === undefined ? undefined : byId.get(causeId);
    const by = posted.has(e.id) ? 'posted  ' : 'reaction';
    const causation =
      causeId === undefined
        ? 'causation —         (root of the flow)'
        : `causation ${short(causeId)} = ${cause ? `#${numberOf.get(cause.id)} ${cause.eventType}` : 'an event outside the flow'}`;
    write(
      `  #${String(numberOf.get(e.id)).padEnd(3)} ${e.eventType.padEnd(27)} ${module.padEnd(12)} ${by}  ` +
        `correlation ${short(e.metadata.correlationId)}  ${causation}`,
    );
  }

  /** Reads what is new in the flow (its correlation id) and keeps its events. */
  async function poll(): Promise<void> {
    if (rootEventId === undefined) return;
    for (;;) {
      const query = new URLSearchParams({ limit: '1000', correlationId: rootEventId });
      if (cursor) query.set('cursor', cursor);
      const page = await api<{ events: StoryEvent[]; nextCursor: string | null; hasMore: boolean }>(
        'GET',
        `/evco/events?${query}`,
      );
      cursor = page.nextCursor ?? cursor;
      for (const e of page.events) {
        if (byId.has(e.id)) continue;
        events.push(e);
        byId.set(e.id, e);
        print(e);
      }
      if (!page.hasMore) return;
    }
  }

  async function waitFor(what: string, match: (e: StoryEvent) => boolean): Promise<StoryEvent> {
    const deadline = Date.now() + stepTimeoutMs;
    for (;;) {
      await poll();
      const found = events.find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new StoryError(
          `waited ${stepTimeoutMs} ms for ${what}; the chain stopped. Look at the dashboard (/evco/dashboard/) ` +
            'or GET /evco/dead-letters to see which handler is stuck.',
        );
      }
      await new Promise((r) => setTimeout(r, pollIntervalMs));
    }
  }

  const after = (cause: { id: string }) => ({ correlationId: rootEventId!, causationId: cause.id });

  type Published = { eventId: string; position: string };
  async function post(...inputs: EventInput[]): Promise<Published[]> {
    const body = inputs.length === 1 ? inputs[0] : { events: inputs };
    const reply = await api<Published | { events: Published[] }>('POST', '/evco/events', body);
    const results = 'events' in reply ? reply.events : [reply];
    results.forEach((r, i) => {
      posted.add(r.eventId);
      const causationId = inputs[i]?.metadata?.causationId;
      if (causationId) actorCauses[r.eventId] = causationId;
    });
    if (rootEventId !== undefined) await poll();
    return results;
  }

  const execution = (executionId: string, workflowId: string) => ({ executionId, workflowId, userId });

  // 1. A user registers: the root of the flow.
  write('1. Ada registers; the subscription module should start her trial.');
  const [registered] = await post({
    eventType: 'UserRegistered',
    aggregateId: userId,
    eventData: { userId, email: 'ada@example.com', username: 'ada' },
  });
  rootEventId = registered!.eventId;
  await poll();
  const activated = await waitFor('SubscriptionActivated', (e) => e.eventType === 'SubscriptionActivated');

  // 2. Two workflow runs; the CRM sync fails, retryably.
  write('2. Two workflow runs; the CRM sync fails and the workflow module should retry it.');
  const report = randomUUID();
  const sync = randomUUID();
  const first = randomUUID();
  const second = randomUUID();
  const [startedFirst, startedSecond] = await post(
    {
      eventType: 'WorkflowExecutionStarted',
      aggregateId: first,
      eventData: execution(first, report),
      metadata: after(activated),
    },
    {
      eventType: 'WorkflowExecutionStarted',
      aggregateId: second,
      eventData: execution(second, sync),
      metadata: after(activated),
    },
  );
  const [, failed] = await post(
    {
      eventType: 'WorkflowExecutionCompleted',
      aggregateId: first,
      eventData: { ...execution(first, report), durationMs: 1_200 },
      metadata: after({ id: startedFirst!.eventId }),
    },
    {
      eventType: 'WorkflowExecutionFailed',
      aggregateId: second,
      eventData: { ...execution(second, sync), error: 'CRM API timed out', retryable: true },
      metadata: after({ id: startedSecond!.eventId }),
    },
  );
  const startedRetry = await waitFor(
    'the retry of the failed run',
    (e) => e.eventType === 'WorkflowExecutionStarted' && e.metadata.causationId === failed!.eventId,
  );

  // 3. The engine reports the retry completed.
  write('3. The retried run completes.');
  const [completedRetry] = await post({
    eventType: 'WorkflowExecutionCompleted',
    aggregateId: startedRetry.aggregateId,
    eventData: { ...execution(startedRetry.aggregateId, sync), durationMs: 900 },
    metadata: after(startedRetry),
  });

  // 4. Two posts; moderation rejects one.
  write('4. Ada publishes two posts; moderation should approve one and reject the other.');
  const approved = randomUUID();
  const rejected = randomUUID();
  await post(
    {
      eventType: 'ContentPublished',
      aggregateId: approved,
      eventData: { contentId: approved, authorId: userId, title: 'Automating the weekly report' },
      metadata: after({ id: completedRetry!.eventId }),
    },
    {
      eventType: 'ContentPublished',
      aggregateId: rejected,
      eventData: { contentId: rejected, authorId: userId, title: 'Win big at the casino' },
      metadata: after({ id: completedRetry!.eventId }),
    },
  );
  await waitFor(
    'the approval',
    (e) => e.eventType === 'ContentModerationCompleted' && e.aggregateId === approved,
  );
  const rejection = await waitFor(
    'the rejection',
    (e) => e.eventType === 'ContentModerationCompleted' && e.aggregateId === rejected,
  );

  // 5. The weekly report runs again; meanwhile an admin bans Ada for the rejected post.
  write('5. The weekly report runs again, and an admin bans Ada: every module should react.');
  const third = randomUUID();
  await post({
    eventType: 'WorkflowExecutionStarted',
    aggregateId: third,
    eventData: execution(third, report),
    metadata: after({ id: startedFirst!.eventId }),
  });
  await post({
    eventType: 'UserStatusChanged',
    aggregateId: userId,
    eventData: { userId, previousStatus: 'active', newStatus: 'banned', reason: 'spam' },
    metadata: after(rejection),
  });
  await waitFor('the trial to end', (e) => e.eventType === 'SubscriptionExpired');

  // Let the last reactions settle: the store has no open delivery of the flow's events left.
  const settleDeadline = Date.now() + stepTimeoutMs;
  for (;;) {
    await poll();
    const status = await api<{ counts: { pending: number; inFlight: number } }>('GET', '/evco/status');
    if (status.counts.pending === 0 && status.counts.inFlight === 0) break;
    if (Date.now() > settleDeadline) break;
    await new Promise((r) => setTimeout(r, pollIntervalMs));
  }
  await poll();

  const modules = new Set(events.map((e) => moduleOf(e.eventType)));
  const reactions = events.filter((e) => !posted.has(e.id)).length;
  write('');
  write(
    `The flow: ${events.length} events (${events.length - reactions} posted, ${reactions} reactions) from ` +
      `${modules.size} modules, all with correlation ${short(rootEventId)}.`,
  );
  return {
    startedAt,
    userId,
    rootEventId,
    workflows: { report, sync },
    executions: { completed: first, failed: second, retry: startedRetry.aggregateId, cancelled: third },
    content: { approved, rejected },
    actorCauses,
    events,
  };
}
