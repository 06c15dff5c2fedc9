import { createHash } from 'node:crypto';
import { type DomainEvent, type HandlerContext, isEvcoError, type RecordedEvent } from '@evco/core';

/** Namespace of the name-based UUIDs (v5, RFC 9562) the evco example modules derive. */
const NAMESPACE = Buffer.from('4f2f3a2a51ad4bc2b7531e8d62b8bd00', 'hex');

/**
 * A UUID derived from the event being handled, the handler and `parts`: every re-delivery of
 * that event to that handler computes the same one. Give it to whatever the reaction creates (a
 * record, a follow-up event) so that doing the reaction again finds it already done.
 */
export function derivedId(
  context: Pick<HandlerContext, 'handlerName'>,
  event: Pick<RecordedEvent, 'id'>,
  ...parts: string[]
): string {
  const name = [event.id, context.handlerName, ...parts].join('\u001f');
  const hash = createHash('sha1').update(NAMESPACE).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Publishes a follow-up event whose id is derived (`derivedId`). If an earlier attempt of the
 * same reaction stored it already, the store refuses the duplicate id and this resolves
 * quietly: however often the reaction runs, the follow-up exists once.
 */
export async function publishFollowUp(context: HandlerContext, event: DomainEvent): Promise<void> {
  try {
    await context.publish(event);
  } catch (error) {
    if (isEvcoError(error, 'DUPLICATE_EVENT')) return;
    throw error;
  }
}
