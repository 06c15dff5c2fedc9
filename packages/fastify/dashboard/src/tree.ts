/**
 * The causation tree of one event, as one tree: the chain of causes from the flow's root down to
 * the event, then the event's effects with their own effects. Pure, so it is tested without a DOM.
 */
import type { CausationNodeJson, EventDetailsJson, EventJson } from './types.js';

export interface TreeNode {
  event: EventJson;
  /** The event the page is about. */
  focus: boolean;
  /** A cause of the focused event (drawn above it). */
  cause: boolean;
  children: TreeNode[];
}

function effectNode(n: CausationNodeJson): TreeNode {
  return { event: n.event, focus: false, cause: false, children: n.children.map(effectNode) };
}

export function causationTree(details: EventDetailsJson): TreeNode {
  const focus: TreeNode = {
    event: details.event,
    focus: true,
    cause: false,
    children: details.effects.map(effectNode),
  };
  // Causes come root first; wrap from the direct cause outwards.
  let top = focus;
  for (let i = details.causes.length - 1; i >= 0; i--) {
    top = { event: details.causes[i]!, focus: false, cause: true, children: [top] };
  }
  return top;
}

export function countNodes(node: TreeNode): number {
  return 1 + node.children.reduce((n, c) => n + countNodes(c), 0);
}

/** Milliseconds between the tree's root and each event, to read the flow's timing. */
export function offsetMs(root: EventJson, event: EventJson): number {
  return Date.parse(event.occurredAt) - Date.parse(root.occurredAt);
}
