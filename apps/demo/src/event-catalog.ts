/**
 * The event types the demo accepts over HTTP: exactly the four modules' contracts, each with
 * its `defineEvent` schema. A client cannot publish an event no module declares, nor one whose
 * data its module would refuse: the contract is checked at the door, not in a dead letter.
 */
import type { EventDefinition } from '@evco/core';
import { ContentDeleted, ContentModerationCompleted, ContentPublished } from '@evco/handlers-content/events';
import { SubscriptionActivated, SubscriptionExpired } from '@evco/handlers-subscription/events';
import { UserLoggedIn, UserRegistered, UserStatusChanged } from '@evco/handlers-user/events';
import {
  WorkflowExecutionCompleted,
  WorkflowExecutionFailed,
  WorkflowExecutionStarted,
} from '@evco/handlers-workflow/events';
import type { z } from 'zod';

export type AnyEventDefinition = EventDefinition<string, object>;

/** Which module owns (publishes) which event types. */
export const MODULE_EVENTS: Readonly<Record<string, readonly AnyEventDefinition[]>> = {
  user: [UserRegistered, UserStatusChanged, UserLoggedIn],
  subscription: [SubscriptionActivated, SubscriptionExpired],
  workflow: [WorkflowExecutionStarted, WorkflowExecutionCompleted, WorkflowExecutionFailed],
  content: [ContentPublished, ContentModerationCompleted, ContentDeleted],
};

export interface CatalogEntry {
  module: string;
  definition: AnyEventDefinition;
}

export class EventCatalog {
  readonly #entries: ReadonlyMap<string, CatalogEntry>;
  /** Sorted, for messages and the OpenAPI enum. */
  readonly types: readonly string[];

  constructor(modules: Readonly<Record<string, readonly AnyEventDefinition[]>> = MODULE_EVENTS) {
    const entries = new Map<string, CatalogEntry>();
    for (const [module, definitions] of Object.entries(modules)) {
      for (const definition of definitions) entries.set(definition.eventType, { module, definition });
    }
    this.#entries = entries;
    this.types = [...entries.keys()].sort();
  }

  get(eventType: string): CatalogEntry | undefined {
    return this.#entries.get(eventType);
  }

  /** The module that publishes `eventType`, or `undefined` for a type no module declares. */
  moduleOf(eventType: string): string | undefined {
    return this.#entries.get(eventType)?.module;
  }

  entries(): CatalogEntry[] {
    return [...this.#entries.values()];
  }

  /** The data schema as zod, for the OpenAPI document (the modules' contracts are zod schemas). */
  static zodSchemaOf(definition: AnyEventDefinition): z.ZodType | undefined {
    const schema = definition.schema as unknown;
    return typeof schema === 'object' && schema !== null && '_zod' in schema
      ? (schema as z.ZodType)
      : undefined;
  }
}
