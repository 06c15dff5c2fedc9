import type { CausationNode, RecordedEvent } from '@evco/core';

const label = (e: RecordedEvent) => `${e.eventType} ${e.id} (${e.aggregateId})`;

/**
 * The causation tree as text: the chain of causes from the root down to the event (marked),
 * then everything it caused, drawn with box characters.
 *
 *   UserRegistered 0190… (user-1)
 *   └─ SubscriptionActivated 0190… (user-1)   ◀ this event
 *      ├─ WorkflowStarted 0190… (user-1)
 *      └─ WelcomeSent 0190… (user-1)
 */
export function drawCausation(
  event: RecordedEvent,
  causes: readonly RecordedEvent[],
  effects: readonly CausationNode[],
): string[] {
  const lines: string[] = [];
  let indent = '';
  for (const [i, cause] of causes.entries()) {
    lines.push(i === 0 ? label(cause) : `${indent}└─ ${label(cause)}`);
    if (i > 0) indent += '   ';
  }
  const self = `${label(event)}   ◀ this event`;
  lines.push(causes.length === 0 ? self : `${indent}└─ ${self}`);
  const base = causes.length === 0 ? '' : `${indent}   `;
  drawChildren(effects, base, lines);
  return lines;
}

function drawChildren(nodes: readonly CausationNode[], prefix: string, lines: string[]): void {
  nodes.forEach((node, i) => {
    const last = i === nodes.length - 1;
    lines.push(`${prefix}${last ? '└─ ' : '├─ '}${label(node.event)}`);
    drawChildren(node.children, `${prefix}${last ? '   ' : '│  '}`, lines);
  });
}
