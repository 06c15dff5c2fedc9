import type {
  EventDrivenCoordinator,
  HandlerRegistration,
  HandlerTarget,
  RegisterHandlerOptions,
} from './coordinator.js';
import type { EventDefinition, EventOf, RecordedEvent } from './event.js';
import type { EventHandler } from './ports.js';

/**
 * Options a caller applies to every reaction of a module (short retry delays in tests, a
 * tighter timeout); they win over a row's own.
 */
export type ModuleHandlerOptions = Pick<RegisterHandlerOptions, 'retry' | 'timeoutMs'>;

/** One row of a module's reaction table: on these events, run this handler under this name. */
export interface Reaction {
  /** Stable: deliveries are tracked under it, so renaming a reaction orphans its pending work. */
  readonly name: string;
  readonly on: HandlerTarget;
  readonly handler: EventHandler<RecordedEvent>;
  readonly options: Omit<RegisterHandlerOptions, 'name'>;
}

/**
 * A typed row of a reaction table: the handler's event type follows from the definitions it
 * reacts to (a list gives it the union, handled by one handler in per-aggregate order).
 */
export function reaction<D extends EventDefinition<string, object>>(
  name: string,
  on: D | readonly D[],
  handler: EventHandler<EventOf<D>>,
  options: Omit<RegisterHandlerOptions, 'name'> = {},
): Reaction {
  // The coordinator hands this handler only events of `on`'s types, validated against their
  // definitions: what `EventOf<D>` promises.
  return { name, on, handler: handler as EventHandler<RecordedEvent>, options };
}

/**
 * Registers a module's reaction table, row by row in order. Resolves once every subscription is
 * stored, so events published afterwards reach them all.
 */
export async function registerReactions(
  coordinator: Pick<EventDrivenCoordinator, 'registerHandler'>,
  reactions: readonly Reaction[],
  options: ModuleHandlerOptions = {},
): Promise<HandlerRegistration[]> {
  const registrations: HandlerRegistration[] = [];
  for (const r of reactions) {
    registrations.push(
      await coordinator.registerHandler(r.on, r.handler, { ...r.options, ...options, name: r.name }),
    );
  }
  return registrations;
}
