import { createDomainEvent, type DomainEvent, type DomainEventInput, isEvcoError } from '@evco/core';

let counter = 0;

/** A valid event with sensible defaults; override any field. */
export function makeEvent(overrides: Partial<DomainEventInput> = {}): DomainEvent {
  counter++;
  return createDomainEvent({
    eventType: 'TestHappened',
    aggregateId: `agg-${counter}`,
    eventData: { n: counter },
    ...overrides,
  });
}

/** Polls `check` until it returns a truthy value (returned) or the timeout passes (throws). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: {
    timeoutMs?: number | undefined;
    intervalMs?: number | undefined;
    message?: string | undefined;
  } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const reason = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(
        `${options.message ?? 'condition not met'} within ${options.timeoutMs ?? 10_000} ms${reason}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 10));
  }
}

/** Collects an async iterable into an array. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Settles every promise and splits the outcomes. */
export async function settle<T>(promises: Promise<T>[]): Promise<{ values: T[]; errors: unknown[] }> {
  const results = await Promise.allSettled(promises);
  const values: T[] = [];
  const errors: unknown[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') values.push(r.value);
    else errors.push(r.reason);
  }
  return { values, errors };
}

/**
 * Where integration tests find their services: `EVCO_TEST_DATABASE_URL` / `EVCO_TEST_REDIS_URL`
 * when set (CI sets both), otherwise a Testcontainers container via `startContainer`, otherwise
 * a failure saying exactly what to provide.
 */
export async function resolveServiceUrl(options: {
  envVar: string;
  what: string;
  startContainer?: (() => Promise<string>) | undefined;
}): Promise<string> {
  const fromEnv = process.env[options.envVar];
  if (fromEnv) return fromEnv;
  if (options.startContainer) {
    try {
      return await options.startContainer();
    } catch (error) {
      throw new Error(
        `${options.what} tests need a server: set ${options.envVar} (e.g. in CI) or make Docker available for Testcontainers. ` +
          `Starting a container failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  throw new Error(`${options.what} tests need a server: set ${options.envVar}.`);
}

/**
 * Runs `create`, which must throw an `EventValidationError` (code `EVENT_VALIDATION`), and
 * returns the paths of its issues; throws if it returned or threw anything else.
 */
export function validationIssuePaths(create: () => unknown): string[] {
  let error: unknown;
  try {
    create();
  } catch (e) {
    error = e;
  }
  if (!isEvcoError(error, 'EVENT_VALIDATION')) {
    throw new Error(
      `expected an EventValidationError, got ${error === undefined ? 'no error' : String(error)}`,
    );
  }
  return (error as unknown as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
}
