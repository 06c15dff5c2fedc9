/**
 * The event types `POST {prefix}/events` accepts when the app names them: each with its
 * `defineEvent` contract, so a client cannot publish an event no module declares, nor one whose
 * data its module would refuse. The contract is checked at the door, not in a dead letter.
 */
import type { EventDefinition } from '@evco/core';
import type { z } from 'zod';
import type { EventTypeList } from './options.js';

export type AnyEventDefinition = EventDefinition<string, object>;

export interface CatalogEntry {
  /** The module that publishes it, when the list was given per module. */
  module: string | undefined;
  definition: AnyEventDefinition;
}

export class EventCatalog {
  readonly #entries: ReadonlyMap<string, CatalogEntry>;
  /** Sorted, for messages and the OpenAPI document. */
  readonly types: readonly string[];

  constructor(list: EventTypeList) {
    const entries = new Map<string, CatalogEntry>();
    const groups: Array<[string | undefined, readonly AnyEventDefinition[]]> = Array.isArray(list)
      ? [[undefined, list as readonly AnyEventDefinition[]]]
      : Object.entries(list as Record<string, readonly AnyEventDefinition[]>);
    for (const [module, definitions] of groups) {
      for (const definition of definitions) entries.set(definition.eventType, { module, definition });
    }
    this.#entries = entries;
    this.types = [...entries.keys()].sort();
  }

  get(eventType: string): CatalogEntry | undefined {
    return this.#entries.get(eventType);
  }

  entries(): CatalogEntry[] {
    return [...this.#entries.values()];
  }

  /** The data schema as zod, for the OpenAPI document and path-precise issues. */
  static zodSchemaOf(definition: AnyEventDefinition): z.ZodType | undefined {
    const schema = definition.schema as unknown;
    return typeof schema === 'object' && schema !== null && '_zod' in schema
      ? (schema as z.ZodType)
      : undefined;
  }
}
