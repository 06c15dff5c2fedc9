import {
  type Announcement,
  type AnnouncementListener,
  type EventPublisher,
  type HealthStatus,
  PublisherUnavailableError,
  type SubscriberHooks,
} from '@evco/core/adapter';

export interface InProcPublisher extends EventPublisher {
  readonly name: 'inproc';
  /** Number of live subscriptions. */
  readonly subscriberCount: number;
}

interface Subscriber {
  listener: AnnouncementListener;
  hooks: SubscriberHooks | undefined;
}

/**
 * Announces events to subscribers in this process, synchronously, in publish order. A listener
 * that throws is reported through its `onMalformed` hook (or swallowed) and never affects the
 * publisher or the other listeners: announcements are hints, the store holds the truth.
 */
export function createInProcPublisher(): InProcPublisher {
  let subscribers: Subscriber[] = [];
  let closed = false;
  let published = 0;
  let listenerErrors = 0;

  return {
    name: 'inproc',
    capabilities: { crossProcess: false },

    get subscriberCount() {
      return subscribers.length;
    },

    async publish(announcement: Announcement): Promise<void> {
      if (closed)
        throw new PublisherUnavailableError('the in-process publisher is closed', {
          source: 'publisher-inproc',
        });
      published += announcement.events.length;
      // Copy-on-write list: a listener that unsubscribes during delivery does not disturb the loop.
      for (const s of subscribers) {
        try {
          s.listener(announcement);
        } catch (error) {
          listenerErrors++;
          s.hooks?.onMalformed?.(`listener threw: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    },

    subscribe(listener: AnnouncementListener, hooks?: SubscriberHooks): () => void {
      if (closed)
        throw new PublisherUnavailableError('the in-process publisher is closed', {
          source: 'publisher-inproc',
        });
      const subscriber: Subscriber = { listener, hooks };
      subscribers = [...subscribers, subscriber];
      return () => {
        subscribers = subscribers.filter((s) => s !== subscriber);
      };
    },

    async healthCheck(): Promise<HealthStatus> {
      return {
        healthy: !closed,
        latencyMs: 0,
        details: { publisher: 'inproc', subscribers: subscribers.length, published, listenerErrors, closed },
      };
    },

    async close(): Promise<void> {
      closed = true;
      subscribers = [];
    },
  };
}
