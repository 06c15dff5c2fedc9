import {
  createCoordinator,
  type EventDrivenCoordinator,
  type HandlerRegistration,
  type HandlerTarget,
  type RegisterHandlerOptions,
} from './coordinator.js';
import { EvcoError } from './errors.js';
import type { AnyEventInput, DomainEvent, EventDefinition, EventOf, RecordedEvent } from './event.js';
import { type CoordinatorOptions, waitOptionsSchema } from './options.js';
import type { EventHandler, PublishOptions, PublishResult, TransactionalPublish } from './ports.js';
import { parseInput } from './zod-issues.js';

/**
 * The one documented piece of process-wide state: the coordinator behind the module-level
 * helpers, mirroring the original module's `get_coordinator()` / `publish_event()`.
 * Stored as a promise so concurrent first calls share one instance.
 */
let current: Promise<EventDrivenCoordinator> | undefined;
/** Set by `shutdownCoordinator`, so a later call without options says so instead of "not yet". */
let shutDown = false;
/** The coordinator `current` resolved to, for the synchronous helper. */
let started: EventDrivenCoordinator | undefined;
/** The adapters `current` was created with: a later call passing these same ones keeps them open. */
let adopted: { store: unknown; publisher: unknown } | undefined;

/**
 * Returns the process-wide coordinator, creating it on the first call (which must pass the
 * options: at least `store` and `publisher`). Later calls, concurrent ones included, get the
 * same instance; their options are ignored, and the store and publisher they pass (which were
 * handed over with the call) are closed unless they are the running coordinator's own or
 * `closeAdapters` is false: a second module calling `getCoordinator(options)` must not leave
 * connections open (a Redis publisher connects when created and would keep the process alive).
 */
export function getCoordinator(options?: CoordinatorOptions): Promise<EventDrivenCoordinator> {
  if (current) {
    if (options) void closeIgnored(current, options);
    return current;
  }
  if (!options) return Promise.reject(noCoordinator());
  const created = createCoordinator(options);
  current = created;
  adopted = { store: options.store, publisher: options.publisher };
  shutDown = false;
  created.then(
    (coordinator) => {
      if (current === created) started = coordinator;
    },
    () => {
      // A failed start (bad options, store down) must not poison later attempts.
      if (current === created) {
        current = undefined;
        adopted = undefined;
      }
    },
  );
  return created;
}

async function closeIgnored(
  running: Promise<EventDrivenCoordinator>,
  options: CoordinatorOptions,
): Promise<void> {
  if (options.closeAdapters === false) return;
  const own = adopted;
  const extra = [options.publisher, options.store].filter(
    (adapter) => adapter && adapter !== own?.store && adapter !== own?.publisher,
  );
  if (extra.length === 0) return;
  for (const adapter of extra) {
    await Promise.resolve()
      .then(() => adapter.close())
      .catch(() => {});
  }
  const coordinator = await running.catch(() => undefined);
  coordinator?.logger.warn(
    'getCoordinator(options) called while the process-wide coordinator runs: its options were ignored and the store/publisher it passed were closed; call getCoordinator() without options to get the running one',
  );
}

function noCoordinator(): EvcoError {
  return shutDown
    ? new EvcoError(
        'COORDINATOR_CLOSED',
        'the process-wide coordinator was shut down (shutdownCoordinator()); call getCoordinator({ store, publisher }) to start a new one',
      )
    : new EvcoError(
        'COORDINATOR_NOT_CONFIGURED',
        'no coordinator yet: call getCoordinator({ store, publisher }) once at startup, e.g. with createMemoryStore() and createInProcPublisher()',
      );
}

/** Shuts the process-wide coordinator down (graceful); a later `getCoordinator(options)` makes a new one. */
export async function shutdownCoordinator(options: { timeoutMs?: number | undefined } = {}): Promise<void> {
  // Checked first: a refused option must leave the process-wide coordinator in place.
  parseInput(waitOptionsSchema, options, 'shutdown options');
  const pending = current;
  if (!pending) return;
  let coordinator: EventDrivenCoordinator;
  try {
    coordinator = await pending;
  } catch {
    return;
  }
  try {
    await coordinator.shutdown(options);
  } finally {
    if (current === pending) {
      current = undefined;
      started = undefined;
      adopted = undefined;
      shutDown = true;
    }
  }
}

export async function publishEvent(
  event: DomainEvent | AnyEventInput,
  options?: PublishOptions,
): Promise<PublishResult> {
  return (await getCoordinator()).publishEvent(event, options);
}

export async function publishEvents(
  events: ReadonlyArray<DomainEvent | AnyEventInput>,
  options?: PublishOptions,
): Promise<PublishResult[]> {
  return (await getCoordinator()).publishEvents(events, options);
}

/** `coordinator.publishInTransaction` on the process-wide coordinator (the transactional outbox). */
export async function publishInTransaction(
  transaction: unknown,
  events: DomainEvent | AnyEventInput | ReadonlyArray<DomainEvent | AnyEventInput>,
): Promise<TransactionalPublish> {
  return (await getCoordinator()).publishInTransaction(transaction, events);
}

/**
 * `coordinator.publishInTransactionSync` on the process-wide coordinator, for use inside a
 * synchronous `db.transaction(...)`: the coordinator must already be started (await
 * `getCoordinator(options)` at startup), since nothing here can wait for it.
 */
export function publishInTransactionSync(
  transaction: unknown,
  events: DomainEvent | AnyEventInput | ReadonlyArray<DomainEvent | AnyEventInput>,
): TransactionalPublish {
  if (started) return started.publishInTransactionSync(transaction, events);
  if (current) {
    throw new EvcoError(
      'COORDINATOR_NOT_CONFIGURED',
      'the process-wide coordinator is still starting: await getCoordinator(options) before publishInTransactionSync',
    );
  }
  throw noCoordinator();
}

export function registerHandler<D extends EventDefinition<string, object>>(
  target: D | readonly D[],
  handler: EventHandler<EventOf<D>>,
  options?: RegisterHandlerOptions,
): Promise<HandlerRegistration>;
export function registerHandler<E extends RecordedEvent = RecordedEvent>(
  target: string | readonly string[],
  handler: EventHandler<E>,
  options?: RegisterHandlerOptions,
): Promise<HandlerRegistration>;
export function registerHandler(
  target: HandlerTarget,
  handler: EventHandler<RecordedEvent>,
  options?: RegisterHandlerOptions,
): Promise<HandlerRegistration>;
export async function registerHandler(
  target: HandlerTarget,
  handler: EventHandler<RecordedEvent>,
  options?: RegisterHandlerOptions,
): Promise<HandlerRegistration> {
  return (await getCoordinator()).registerHandler(target, handler, options);
}
