/**
 * Two demo processes side by side on one Postgres (own schema) and one Redis (own channel
 * prefix), as a fleet runs them: events posted to one are handled exactly once across both, and
 * SIGTERM on one drains its in-flight handlers, exits 0 and loses nothing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createPostgresStore, type PostgresStore } from '@evco/store-postgres';
import { waitFor } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoProcess, json, services, startDemo } from './processes.js';

const TOKEN = randomBytes(24).toString('hex');
const admin = { authorization: `Bearer ${TOKEN}` };
const suffix = randomBytes(5).toString('hex');
const schema = `demo_t_${suffix}`;

let a: DemoProcess;
let b: DemoProcess;
let sql: PostgresStore;

/** The parts of `GET /evco/status` these tests read. */
interface Status {
  id: string;
  counts: { handled: number; failed: number; inFlight: number; pending: number };
}

beforeAll(async () => {
  const { databaseUrl, redisUrl } = await services();
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    EVCO_DATABASE_SCHEMA: schema,
    EVCO_REDIS_CHANNEL_PREFIX: `demo-t-${suffix}`,
    EVCO_ADMIN_TOKEN: TOKEN,
    // Slow handlers, so that work is still in flight when a process is told to stop.
    EVCO_HANDLER_DELAY_MS: '200',
    EVCO_LOG_LEVEL: 'info',
  };
  // Started together: both run the migrations at once.
  [a, b] = await Promise.all([startDemo(env), startDemo(env)]);
  // The test reads the store through the store's own pool (raw SQL), not through either demo.
  sql = createPostgresStore({ connectionString: databaseUrl, schema, poolSize: 1 });
});

afterAll(async () => {
  for (const p of [a, b]) {
    if (p && p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  }
  if (sql) {
    await sql.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.close();
  }
});

function completed() {
  const executionId = randomUUID();
  return {
    eventType: 'WorkflowExecutionCompleted',
    aggregateId: executionId,
    eventData: { executionId, workflowId: randomUUID(), userId: randomUUID(), durationMs: 10 },
  };
}

/** A failure the engine will not retry: two workflow handlers react, neither needs prior state. */
function failed() {
  const executionId = randomUUID();
  return {
    eventType: 'WorkflowExecutionFailed',
    aggregateId: executionId,
    eventData: {
      executionId,
      workflowId: randomUUID(),
      userId: randomUUID(),
      error: 'quota',
      retryable: false,
    },
  };
}

async function publish(
  p: DemoProcess,
  events: unknown[],
): Promise<{ position: string; deliveries: number }[]> {
  const res = await json<{ events: { position: string; deliveries: number }[] }>(`${p.url}/evco/events`, {
    method: 'POST',
    body: JSON.stringify({ events }),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.events;
}

async function status(p: DemoProcess): Promise<Status> {
  return (await json<Status>(`${p.url}/evco/status`)).body;
}

async function drained(p: DemoProcess): Promise<boolean> {
  const res = await json<{ events: unknown[] }>(`${p.url}/evco/unprocessed`, { headers: admin });
  return res.status === 200 && res.body.events.length === 0;
}

/** Waits until `p` sees no open delivery; on timeout, says what is still open and what the processes said. */
async function waitDrained(p: DemoProcess, timeoutMs: number): Promise<void> {
  try {
    await waitFor(() => drained(p), { timeoutMs, intervalMs: 100, message: 'every delivery done' });
  } catch (error) {
    const open = await json<{
      events: Array<{ deliveries: Array<{ handler: string; status: string; lastError: string | null }> }>;
    }>(`${p.url}/evco/unprocessed?limit=5`, { headers: admin }).catch((e: unknown) => ({
      status: 0,
      body: String(e),
    }));
    const tail = (q: DemoProcess) => q.output.slice(-15).join('\n');
    throw new Error(
      `${(error as Error).message}\nstill open: ${JSON.stringify(open.body)}\n--- A ---\n${tail(a)}\n--- B ---\n${tail(b)}`,
    );
  }
}

describe('two demo processes on one Postgres + Redis', () => {
  it('handle each delivery of events posted to one of them exactly once, sharing the work', async () => {
    const events = [...Array.from({ length: 40 }, completed), ...Array.from({ length: 10 }, failed)];
    const published = await publish(a, events);
    // WorkflowExecutionCompleted: 1 handler; WorkflowExecutionFailed: 2 (notify, retry).
    expect(published.reduce((n, p) => n + p.deliveries, 0)).toBe(60);

    // Nothing pending, running or dead: every delivery succeeded...
    await waitDrained(a, 30_000);
    // ...and successful runs add up to the deliveries, with no failure: each ran exactly once.
    const [sa, sb] = await Promise.all([status(a), status(b)]);
    expect(sa.id).not.toBe(sb.id);
    expect(sa.counts.handled + sb.counts.handled).toBe(60);
    expect(sa.counts.failed + sb.counts.failed).toBe(0);
    // B never received a request, yet took its share: Redis rang, B claimed.
    expect(sb.counts.handled).toBeGreaterThan(0);
    expect(sa.counts.handled).toBeGreaterThan(0);
  });

  it('SIGTERM on one: it drains its in-flight handlers and exits 0, the other finishes the rest', async () => {
    const [beforeA, beforeB] = await Promise.all([status(a), status(b)]);
    const published = await publish(a, Array.from({ length: 120 }, completed));
    expect(published.reduce((n, p) => n + p.deliveries, 0)).toBe(120);
    await waitFor(async () => (await status(a)).counts.inFlight > 0, { timeoutMs: 10_000, intervalMs: 5 });

    a.child.kill('SIGTERM');
    const exit = await a.exited;
    expect(exit, a.output.slice(-20).join('\n')).toEqual({ code: 0, signal: null });
    const logs = a.output
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // It stopped with handlers in flight, waited for them (no lease had to be released)...
    const stopping = logs.find((l) => l.msg === 'coordinator stopping');
    expect(stopping?.inFlight).toBeGreaterThan(0);
    expect(logs.filter((l) => String(l.msg).includes('releasing leases'))).toEqual([]);
    const final = logs.find((l) => l.msg === 'coordinator stopped: final counts') as {
      handled: number;
      failed: number;
    };
    expect(final.failed).toBe(0);

    // ...and B did the rest: every delivery done, each successful exactly once across both.
    await waitDrained(b, 60_000);
    const afterB = await status(b);
    const byA = final.handled - beforeA.counts.handled;
    const byB = afterB.counts.handled - beforeB.counts.handled;
    expect(byA).toBeGreaterThanOrEqual(Number(stopping?.inFlight));
    expect(byB).toBeGreaterThan(0);
    expect(byA + byB).toBe(120);
    expect(afterB.counts.failed).toBe(0);

    b.child.kill('SIGTERM');
    expect(await b.exited).toEqual({ code: 0, signal: null });
  });
});
