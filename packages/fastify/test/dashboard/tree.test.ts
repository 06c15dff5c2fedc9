import { describe, expect, it } from 'vitest';
import { causationTree, countNodes, offsetMs } from '../../dashboard/src/tree.js';
import type { EventJson } from '../../dashboard/src/types.js';

function event(id: string, ms: number, causationId?: string): EventJson {
  return {
    id,
    eventType: `T${id}`,
    aggregateId: 'a',
    eventData: {},
    metadata: causationId ? { schemaVersion: 1, correlationId: 'root', causationId } : { schemaVersion: 1 },
    occurredAt: new Date(Date.UTC(2026, 10, 28, 9, 0, 0, ms)).toISOString(),
    recordedAt: new Date(Date.UTC(2026, 10, 28, 9, 0, 0, ms)).toISOString(),
    position: String(ms),
  };
}

describe('causationTree', () => {
  it('puts the causes above the event, root first, and its effects below', () => {
    const [root, cause, focus, e1, e2, e11] = [
      event('root', 0),
      event('cause', 10, 'root'),
      event('focus', 20, 'cause'),
      event('e1', 30, 'focus'),
      event('e2', 40, 'focus'),
      event('e11', 50, 'e1'),
    ] as const;
    const tree = causationTree({
      event: focus,
      deliveries: [],
      causes: [root, cause],
      effects: [
        { event: e1, children: [{ event: e11, children: [] }] },
        { event: e2, children: [] },
      ],
      truncated: false,
    });
    expect(tree.event.id).toBe('root');
    expect(tree.cause).toBe(true);
    const c = tree.children[0]!;
    expect(c.event.id).toBe('cause');
    const f = c.children[0]!;
    expect(f).toMatchObject({ focus: true, cause: false });
    expect(f.event.id).toBe('focus');
    expect(f.children.map((n) => n.event.id)).toEqual(['e1', 'e2']);
    expect(f.children[0]!.children.map((n) => n.event.id)).toEqual(['e11']);
    expect(f.children.every((n) => !n.cause && !n.focus)).toBe(true);
    expect(countNodes(tree)).toBe(6);
    expect(offsetMs(root, e11)).toBe(50);
  });

  it('makes a root event with no effects a single node', () => {
    const only = event('only', 0);
    const tree = causationTree({ event: only, deliveries: [], causes: [], effects: [], truncated: false });
    expect(tree).toEqual({ event: only, focus: true, cause: false, children: [] });
  });
});
