import { type AnnouncedEvent, type Announcement, silentLogger } from '@evco/core';
import { createRedisPublisher, encodeAnnouncement, type RedisPublisher } from '@evco/publisher-redis';
import { Redis } from 'ioredis';
import { redisUrl } from './env.js';
import { type BenchSection, type Comparison, compare, percentile, round } from './harness.js';

/**
 * publisher-redis against raw ioredis on the same server, in the same run.
 *
 * What a "message" is on each side:
 * - raw: one PUBLISH of a ready-made string (no encoding cost at all), the v1 document for one
 *   event (~150 bytes); the whole run is one ioredis pipeline. This is the driver's ceiling.
 * - evco: `publisher.publish(announcement)` for batches of events: encoding and validation,
 *   chunking under `maxMessageBytes` (64 KiB), coalescing of concurrent publishes into one
 *   pipeline, one reply awaited per publish.
 * Both sides announce the same events, so rates are events announced per second. A second raw
 * baseline is a hand-rolled announcer: JSON.stringify of each batch as one v1 document (no
 * validation, no chunking) and one PUBLISH per batch, i.e. about the bytes evco sends.
 * Both sides publish to the channel the evco publisher's own subscriber listens on, so Redis
 * fans out to the same subscriber for both.
 */
const TOTAL = 100_000;
const LATENCY_RATE = 1000;
const LATENCY_ROUND = 1000;
const LATENCY_ROUNDS = 5;

function announced(n: number, offset: number): AnnouncedEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const k = offset + i;
    return {
      id: `0190a0b0-0000-7000-8000-${k.toString(16).padStart(12, '0')}`,
      eventType: 'OrderPlaced',
      aggregateId: `order-${k % 997}`,
      position: String(1_000_000 + k),
    };
  });
}

function inBatches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const source = 'bench-node';
const oneMessage = (events: AnnouncedEvent[]) =>
  encodeAnnouncement({ source, events }, 512 * 1024 * 1024)[0]!;

async function throughput(publisher: RedisPublisher, raw: Redis): Promise<Comparison[]> {
  const channel = publisher.channel;
  const all = announced(TOTAL, 0);
  const perEvent = all.map((e) => oneMessage([e]));
  const rawPerEvent = {
    name: `raw pipelined PUBLISH, ${TOTAL} messages (1 per event, pre-encoded)`,
    fn: async () => {
      const pipeline = raw.pipeline();
      for (const m of perEvent) pipeline.publish(channel, m);
      await pipeline.exec();
    },
  };
  const results: Comparison[] = [];

  for (const size of [1000, 100]) {
    const batches = inBatches(all, size).map((events): Announcement => ({ source, events }));
    const evcoAllInFlight = {
      name: `evco publish(), ${batches.length} announcements of ${size} events, all in flight`,
      fn: async () => {
        await Promise.all(batches.map((a) => publisher.publish(a)));
      },
    };
    results.push(
      await compare(`announce ${TOTAL} events in batches of ${size}`, TOTAL, rawPerEvent, evcoAllInFlight, {
        goal: 'evco >= 0.8x raw',
        rounds: 5,
      }),
    );
    results.push(
      await compare(
        `announce ${TOTAL} events in batches of ${size}, raw sends the same documents unchunked`,
        TOTAL,
        {
          name: `raw JSON.stringify + pipelined PUBLISH, ${batches.length} messages (1 per batch)`,
          fn: async () => {
            const pipeline = raw.pipeline();
            for (const a of batches) {
              const events = a.events.map((e) => ({ ...e, position: e.position.toString() }));
              pipeline.publish(channel, JSON.stringify({ v: 1, source: a.source, events }));
            }
            await pipeline.exec();
          },
        },
        evcoAllInFlight,
        { rounds: 5 },
      ),
    );
  }

  {
    const batches = inBatches(all, 1000).map((events): Announcement => ({ source, events }));
    const rawBatches = inBatches(perEvent, 1000);
    results.push(
      await compare(
        `announce ${TOTAL} events in batches of 1000, each awaited before the next`,
        TOTAL,
        {
          name: 'raw: one awaited pipeline of 1000 PUBLISH per batch',
          fn: async () => {
            for (const messages of rawBatches) {
              const pipeline = raw.pipeline();
              for (const m of messages) pipeline.publish(channel, m);
              await pipeline.exec();
            }
          },
        },
        {
          name: 'evco: one awaited publish() per batch',
          fn: async () => {
            for (const a of batches) await publisher.publish(a);
          },
        },
        { rounds: 5 },
      ),
    );
  }

  results.push(
    await compare(`announce ${TOTAL} events, one event per announcement, all in flight`, TOTAL, rawPerEvent, {
      name: `evco publish(), ${TOTAL} announcements of 1 event`,
      fn: async () => {
        await Promise.all(all.map((e) => publisher.publish({ source, events: [e] })));
      },
    }),
  );
  return results;
}

/** Calls `send(i)` for i in [0, n) at about `ratePerSec`, idle in between. */
async function paced(n: number, ratePerSec: number, send: (i: number) => void): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = started + (i * 1000) / ratePerSec - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    send(i);
  }
}

async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('latency run: not every message arrived');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * publish → listener latency at 1 000 events/s, one event per message. Raw: PUBLISH of a
 * pre-encoded string, a plain ioredis subscriber's 'message' callback. evco: `publish()` of a
 * one-event announcement, the listener gets the decoded, validated announcement. Rounds
 * alternate so that load drift hits both alike; messages arrive in order, so the k-th arrival
 * answers the k-th send on both sides.
 */
async function latency(publisher: RedisPublisher, raw: Redis): Promise<Record<string, unknown>> {
  const rawChannel = `${publisher.channel}:raw-latency`;
  const rawSubscriber = new Redis(redisUrl);
  await rawSubscriber.subscribe(rawChannel);
  const events = announced(LATENCY_ROUND, 5_000_000);
  const payloads = events.map((e) => oneMessage([e]));
  const rawMs: number[] = [];
  const evcoMs: number[] = [];
  let sentAt: number[] = [];
  let arrived = 0;
  let sink: number[] | undefined;
  const arrive = () => {
    const ms = performance.now() - sentAt[arrived]!;
    arrived++;
    sink?.push(ms);
  };
  rawSubscriber.on('message', arrive);
  const unsubscribe = publisher.subscribe(arrive);

  const runRound = async (side: 'raw' | 'evco', into: number[] | undefined, n: number) => {
    sentAt = new Array(n);
    arrived = 0;
    sink = into;
    const failed: unknown[] = [];
    await paced(n, LATENCY_RATE, (i) => {
      sentAt[i] = performance.now();
      if (side === 'raw') raw.publish(rawChannel, payloads[i]!).catch((e: unknown) => failed.push(e));
      else publisher.publish({ source, events: [events[i]!] }).catch((e: unknown) => failed.push(e));
    });
    await until(() => arrived >= n);
    if (failed.length > 0) throw new Error(`latency run (${side}): ${failed.length} publishes failed`);
  };

  try {
    await runRound('raw', undefined, 200);
    await runRound('evco', undefined, 200);
    for (let r = 0; r < LATENCY_ROUNDS; r++) {
      await runRound('raw', rawMs, LATENCY_ROUND);
      await runRound('evco', evcoMs, LATENCY_ROUND);
    }
  } finally {
    unsubscribe();
    rawSubscriber.disconnect();
  }
  const stats = (ms: number[]) => {
    const sorted = [...ms].sort((a, b) => a - b);
    return {
      n: sorted.length,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: round(sorted.at(-1)!),
    };
  };
  const r = stats(rawMs);
  const e = stats(evcoMs);
  return {
    name: `publish → listener latency at ${LATENCY_RATE} events/s, 1 event per message`,
    baseline: { name: 'raw ioredis PUBLISH → subscriber callback', ...r },
    evco: { name: 'evco publish() → subscribe() listener (decoded, validated)', ...e },
    ratioP99: round(e.p99Ms / r.p99Ms),
    ratioP50: round(e.p50Ms / r.p50Ms),
    goal: 'evco p99 <= 1.5x raw p99',
  };
}

function newPublisher(name: string): RedisPublisher {
  return createRedisPublisher({
    url: redisUrl,
    channelPrefix: `evco-bench-${process.pid}-${name}`,
    logger: silentLogger,
    // 100 000 announcements in one flush take a while to answer on a busy machine.
    publishTimeoutMs: 60_000,
  });
}

export const redisSection: BenchSection = {
  name: 'redis',
  async run() {
    const raw = new Redis(redisUrl);
    const results: Array<Comparison | Record<string, unknown>> = [];
    // Separate publishers: the throughput floods its channel's subscriber (Redis may even drop
    // it past client-output-buffer-limit), which must not spill into the latency run.
    const flooded = newPublisher('throughput');
    try {
      await flooded.waitUntilReady();
      results.push(...(await throughput(flooded, raw)));
    } finally {
      await flooded.close();
    }
    const quiet = newPublisher('latency');
    try {
      await quiet.waitUntilReady();
      results.push(await latency(quiet, raw));
    } finally {
      await quiet.close();
      raw.disconnect();
    }
    return results;
  },
};
