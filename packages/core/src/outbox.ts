import { EvcoError } from './errors.js';
import type { AnyEventInput, DomainEvent } from './event.js';
import type { EventBus } from './event-bus.js';
import type { EventStore, TransactionalPublish } from './ports.js';

/** What `publishInTransaction` accepts: one event or a batch. */
export type OutboxEvents = DomainEvent | AnyEventInput | ReadonlyArray<DomainEvent | AnyEventInput>;

/**
 * The transactional outbox: the bus validates and runs `beforePublish`, the store writes the
 * events and their deliveries on the application's own transaction (`appendWithin`), and the
 * announcement waits for `afterCommit()`.
 */
export async function publishInTransaction(
  bus: EventBus,
  store: EventStore,
  transaction: unknown,
  events: OutboxEvents,
): Promise<TransactionalPublish> {
  if (typeof store.appendWithin !== 'function') throw outboxUnsupported(store, 'publishInTransaction');
  return bus.publishWithin(
    asBatch(events),
    (batch, now) => store.appendWithin!(transaction, batch, { now }),
    stillOpen(store, transaction),
  );
}

/** `publishInTransaction` for a synchronous transaction (better-sqlite3): `appendWithinSync`. */
export function publishInTransactionSync(
  bus: EventBus,
  store: EventStore,
  transaction: unknown,
  events: OutboxEvents,
): TransactionalPublish {
  if (typeof store.appendWithinSync !== 'function') {
    throw outboxUnsupported(store, 'publishInTransactionSync');
  }
  return bus.publishWithinSync(
    asBatch(events),
    (batch, now) => store.appendWithinSync!(transaction, batch, { now }),
    stillOpen(store, transaction),
  );
}

/**
 * What `afterCommit()` asks before announcing: `true` when the store sees the handle still in a
 * transaction, i.e. the call came before COMMIT. A store that cannot tell is not asked.
 */
function stillOpen(store: EventStore, transaction: unknown): (() => boolean) | undefined {
  if (typeof store.transactionOpen !== 'function') return undefined;
  return () => store.transactionOpen!(transaction) === true;
}

function asBatch(events: OutboxEvents): ReadonlyArray<DomainEvent | AnyEventInput> {
  return Array.isArray(events) ? events : [events as DomainEvent | AnyEventInput];
}

function outboxUnsupported(store: EventStore, method: string): EvcoError {
  const hint =
    method === 'publishInTransactionSync' && typeof store.appendWithin === 'function'
      ? `its appends are asynchronous: use publishInTransaction`
      : 'it cannot write into a transaction of your application (store-postgres and store-sqlite can); publish with publishEvent(s) instead';
  return new EvcoError('UNSUPPORTED', `${method} is not supported by the ${store.name} store: ${hint}`);
}
