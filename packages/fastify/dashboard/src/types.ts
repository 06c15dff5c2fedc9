/**
 * The JSON the admin routes send (see the plugin's route schemas). The dashboard reads these
 * defensively: a field a server does not send is simply not drawn.
 */

export interface EventJson {
  id: string;
  eventType: string;
  aggregateId: string;
  aggregateType?: string;
  aggregateVersion?: number;
  eventData: Record<string, unknown>;
  metadata: Record<string, string | number | undefined>;
  occurredAt: string;
  recordedAt: string;
  position: string;
}

export type DeliveryStatus = 'pending' | 'running' | 'done' | 'dead';

export interface DeliveryJson {
  deliveryId: string;
  handler: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  isReplay: boolean;
  updatedAt: string;
}

/** What retention removed from a queried range, per event type. */
export interface PrunedJson {
  eventType: string;
  /** Events of this type that occurred before this were removed. */
  before: string;
  removed: number;
  lastPrunedAt: string;
}

export interface EventPage {
  events: EventJson[];
  pruned?: PrunedJson[];
  /** Where the next page starts; some servers always send one (to follow new events). */
  nextCursor: string | null;
  /** When sent, whether the next page has events now. */
  hasMore?: boolean;
}

export interface DeadLetterJson {
  event: EventJson;
  delivery: DeliveryJson;
}

export interface DeadLetterPage {
  deadLetters: DeadLetterJson[];
  nextCursor: string | null;
}

export interface CausationNodeJson {
  event: EventJson;
  children: CausationNodeJson[];
}

export interface EventDetailsJson {
  event: EventJson;
  deliveries: DeliveryJson[];
  /** Root first, up to the direct cause. */
  causes: EventJson[];
  effects: CausationNodeJson[];
  truncated: boolean;
}

export interface ReplayProgressJson {
  id: string;
  status: 'running' | 'done';
  from: string;
  to: string;
  eventType?: string;
  handler?: string;
  maxEvents: number;
  eventsMatched: number;
  deliveriesQueued: number;
  deliveriesOpen: number;
  deliveriesDead: number;
  truncated: boolean;
  done: boolean;
  pruned?: PrunedJson[];
  createdAt: string;
  updatedAt: string;
}

export interface SubscriptionJson {
  handler: string;
  eventType: string;
  ordering?: string;
  expiresAt: string;
  lastSeenAt: string;
  lastSeenBy: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}
