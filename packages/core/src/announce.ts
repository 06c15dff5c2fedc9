import type { RecordedEvent } from './event.js';
import type { AnnouncedEvent, EventPublisher, Logger } from './ports.js';

/**
 * Rings the doorbell for these events' types (one announced event per type) after an admin
 * write created due work; a failure only costs the pollers' delay, so it is logged, not thrown.
 */
export async function announceEvents(
  context: { publisher?: EventPublisher | undefined; source: string; logger: Logger },
  events: readonly RecordedEvent[],
): Promise<void> {
  const publisher = context.publisher;
  if (!publisher || events.length === 0) return;
  const byType = new Map<string, AnnouncedEvent>();
  for (const e of events) {
    if (!byType.has(e.eventType)) {
      byType.set(e.eventType, {
        id: e.id,
        eventType: e.eventType,
        aggregateId: e.aggregateId,
        position: e.position,
      });
    }
  }
  try {
    await publisher.publish({ source: context.source, events: [...byType.values()] });
  } catch (error) {
    context.logger.debug({ err: error }, 'announcing an admin change failed; pollers pick it up');
  }
}
