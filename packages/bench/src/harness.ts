import {
  type CoordinatorOptions,
  createCoordinator,
  type EventDrivenCoordinator,
  type EventHandlerFunction,
  type EventStore,
  type HandlerOrdering,
  silentLogger,
} from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';

/**
 * Benchmark plumbing. Every section measures a raw baseline and the evco path in the same run,
 * on the same machine state, and reports both rates and their ratio. Nothing here asserts:
 * numbers are printed, goals are shown next to them.
 */
export interface Measurement {
  /** Operations (events, messages) per second. */
  opsPerSec: number;
  ops: number;
  ms: number;
  /** CPU time of this process (all its threads: user + system) per operation, in µs: less noisy than wall time on a loaded machine. */
  cpuUsPerOp: number;
}

/**
 * A contender: `fn` is timed; `setup`, when given, runs untimed before each timed run, and
 * `check` untimed after each (to assert what the run did: it throws when the run went wrong).
 */
export interface Contender {
  name: string;
  fn: () => Promise<void>;
  setup?: () => Promise<void> | void;
  check?: () => Promise<void> | void;
}

export interface Comparison {
  name: string;
  baseline: { name: string } & Measurement;
  evco: { name: string } & Measurement;
  /** evco / baseline, higher is better. */
  ratio: number;
  goal?: string;
  extra?: Record<string, unknown>;
}

export interface BenchSection {
  name: string;
  /** Runs only when named (`pnpm bench scale`): too long for the default run. */
  onlyWhenNamed?: boolean;
  run(): Promise<Array<Comparison | Record<string, unknown>>>;
}

/** Runs `fn` (which performs `ops` operations) after `warmup` runs; returns the best of `rounds`. */
export async function measure(
  ops: number,
  fn: () => Promise<void>,
  options: { warmup?: number; rounds?: number } = {},
): Promise<Measurement> {
  for (let i = 0; i < (options.warmup ?? 1); i++) await fn();
  let best: Measurement | undefined;
  for (let i = 0; i < (options.rounds ?? 3); i++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await fn();
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const m = {
      ops,
      ms: round(ms),
      opsPerSec: Math.round((ops / ms) * 1000),
      cpuUsPerOp: round((used.user + used.system) / ops, 2),
    };
    if (!best || m.opsPerSec > best.opsPerSec) best = m;
  }
  return best!;
}

/**
 * Measures two contenders alternately (A, B, A, B …) and keeps each one's best round, so that
 * drift in machine load affects both alike.
 */
export async function compare(
  name: string,
  ops: number,
  baseline: Contender,
  evco: Contender,
  options: { rounds?: number; goal?: string; warmup?: number } = {},
): Promise<Comparison> {
  const [a, b] = await alternate(ops, [baseline, evco], options);
  return {
    name,
    baseline: a!,
    evco: b!,
    ratio: round(b!.opsPerSec / a!.opsPerSec),
    ...(options.goal ? { goal: options.goal } : {}),
  };
}

/**
 * Measures any number of contenders in turns (A, B, C, A, B, C …) after `warmup` turns, and
 * returns each one's best round, in the order given.
 */
export async function alternate(
  ops: number,
  contenders: Contender[],
  options: { rounds?: number; warmup?: number } = {},
): Promise<Array<{ name: string } & Measurement>> {
  const best: Array<Measurement | undefined> = contenders.map(() => undefined);
  for (let i = 0; i < (options.warmup ?? 1); i++) {
    for (const c of contenders) {
      await c.setup?.();
      await c.fn();
      await c.check?.();
    }
  }
  for (let i = 0; i < (options.rounds ?? 3); i++) {
    for (const [k, c] of contenders.entries()) {
      await c.setup?.();
      const m = await measure(ops, c.fn, { warmup: 0, rounds: 1 });
      await c.check?.();
      if (!best[k] || m.opsPerSec > best[k].opsPerSec) best[k] = m;
    }
  }
  return contenders.map((c, k) => ({ name: c.name, ...best[k]! }));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return round(sorted[i]!);
}

/**
 * A count as the bench's environment variables spell it: a number with an optional `k` or `M`
 * (`200k`, `1.5M`, `5000000`); undefined when the text is not one, for the caller to say which
 * variable was wrong.
 */
export function parseCount(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase() === 'k' ? 1_000 : m[2]!.toLowerCase() === 'm' ? 1_000_000 : 1;
  return Math.round(Number(m[1]) * unit);
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * A started coordinator on the given store (in-process publisher, silent logger) with one handler
 * that only counts: the evco side of every end-to-end case. `around`, when given, is the handler
 * instead, and calls the counting one itself.
 */
export async function countingCoordinator(
  store: EventStore,
  handler: {
    eventType: string;
    name: string;
    ordering?: HandlerOrdering;
    around?: (count: () => Promise<void>) => EventHandlerFunction;
  },
  options: Partial<CoordinatorOptions> = {},
): Promise<{ coordinator: EventDrivenCoordinator; handled: () => number }> {
  const coordinator = await createCoordinator({
    store,
    publisher: createInProcPublisher(),
    logger: silentLogger,
    pollIntervalMs: 1000,
    ...options,
  });
  let count = 0;
  const counting = async () => {
    count++;
  };
  await coordinator.registerHandler(handler.eventType, handler.around ? handler.around(counting) : counting, {
    name: handler.name,
    ordering: handler.ordering,
  });
  return { coordinator, handled: () => count };
}
