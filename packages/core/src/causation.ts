import type { RecordedEvent } from './event.js';
import type { EventStore } from './ports.js';

/** One event and the events it caused (their `metadata.causationId` is its id), recursively. */
export interface CausationNode {
  event: RecordedEvent;
  children: CausationNode[];
}

export interface CausationLimits {
  /** Causes followed upwards at most. @default 50 */
  maxCauses?: number | undefined;
  /** Levels of effects below the event at most. @default 10 */
  maxDepth?: number | undefined;
  /** Effects in the whole tree at most. @default 200 */
  maxEffects?: number | undefined;
}

export interface Causation {
  /** Root first … up to the direct cause; empty for a root event. */
  causes: RecordedEvent[];
  /** Direct effects, each with its descendants. */
  effects: CausationNode[];
  /** A limit cut the chain of causes or the tree of effects short. */
  truncated: boolean;
}

/**
 * Follows `causationId` up to the root and the causation index down to the leaves, bounded: a
 * chatty flow (or metadata forged into a loop) must not turn one admin call into an unbounded
 * walk. Effects are read level by level, one indexed query per event of the level.
 */
export async function loadCausation(
  store: EventStore,
  event: RecordedEvent,
  limits: CausationLimits = {},
): Promise<Causation> {
  const maxCauses = limits.maxCauses ?? 50;
  const maxDepth = limits.maxDepth ?? 10;
  const maxEffects = limits.maxEffects ?? 200;
  let truncated = false;
  const seen = new Set<string>([event.id]);

  const causes: RecordedEvent[] = [];
  let causeId = causationIdOf(event);
  while (causeId !== undefined && !seen.has(causeId)) {
    if (causes.length >= maxCauses) {
      truncated = true;
      break;
    }
    const cause = await store.getEvent(causeId);
    // A cause from outside this store (another system's id) ends the chain here.
    if (!cause) break;
    seen.add(cause.id);
    causes.unshift(cause);
    causeId = causationIdOf(cause);
  }

  const effects: CausationNode[] = [];
  let level: Array<{ id: string; children: CausationNode[] }> = [{ id: event.id, children: effects }];
  let count = 0;
  for (let depth = 1; level.length > 0; depth++) {
    const next: CausationNode[] = [];
    for (const parent of level) {
      const room = maxEffects - count;
      if (room <= 0 || depth > maxDepth) {
        // Only a cut if something was really left out below this parent.
        const more = await store.read({ causationId: parent.id, limit: 1 });
        if (more.length > 0) truncated = true;
        continue;
      }
      const children = await store.read({ causationId: parent.id, limit: room + 1, order: 'asc' });
      if (children.length > room) truncated = true;
      for (const child of children.slice(0, room)) {
        if (seen.has(child.id)) continue;
        seen.add(child.id);
        const node: CausationNode = { event: child, children: [] };
        parent.children.push(node);
        next.push(node);
        count++;
      }
    }
    level = next.map((n) => ({ id: n.event.id, children: n.children }));
  }
  return { causes, effects, truncated };
}

function causationIdOf(event: RecordedEvent): string | undefined {
  const id = event.metadata.causationId;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}
