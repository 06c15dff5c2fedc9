/**
 * Every span, attribute and metric name this package emits, in one place: the README lists
 * them and a test holds the README to what is emitted.
 *
 * `messaging.*` names follow the OpenTelemetry messaging semantic conventions (an event type is
 * the destination, a handler the consumer group: the processes running it compete for its
 * deliveries). `evco.*` names cover what those conventions have no name for.
 */
export const ATTR = {
  MESSAGING_SYSTEM: 'messaging.system',
  MESSAGING_OPERATION_NAME: 'messaging.operation.name',
  MESSAGING_OPERATION_TYPE: 'messaging.operation.type',
  MESSAGING_DESTINATION_NAME: 'messaging.destination.name',
  MESSAGING_CONSUMER_GROUP_NAME: 'messaging.consumer.group.name',
  MESSAGING_MESSAGE_ID: 'messaging.message.id',
  MESSAGING_MESSAGE_CONVERSATION_ID: 'messaging.message.conversation_id',
  MESSAGING_CLIENT_ID: 'messaging.client.id',
  MESSAGING_BATCH_MESSAGE_COUNT: 'messaging.batch.message_count',
  ERROR_TYPE: 'error.type',
  AGGREGATE_ID: 'evco.aggregate.id',
  AGGREGATE_TYPE: 'evco.aggregate.type',
  CAUSATION_ID: 'evco.causation.id',
  POSITION: 'evco.event.position',
  DELIVERY_ID: 'evco.delivery.id',
  ATTEMPT: 'evco.delivery.attempt',
  MAX_ATTEMPTS: 'evco.delivery.max_attempts',
  REPLAY: 'evco.delivery.replay',
  OUTCOME: 'evco.delivery.outcome',
  RETRY_DELAY_MS: 'evco.delivery.retry_delay_ms',
  DEAD_LETTER_REASON: 'evco.delivery.dead_letter_reason',
  TIMED_OUT: 'evco.delivery.timed_out',
} as const;

/** `messaging.system`: evco is not one of the conventions' well-known systems. */
export const MESSAGING_SYSTEM = 'evco';

/** Span names: `{messaging.operation.name} {event type}`, as the conventions prescribe. */
export const SPAN = {
  /** PRODUCER, one per published event, or per batch of one event type; its context is the events' creation context. */
  publish: (eventType: string) => `publish ${eventType}`,
  /** PRODUCER, one per batch of several event types (the conventions' name without a destination). */
  publishBatch: 'publish',
  /** CONSUMER, one per handler attempt, child of the event's creation context. */
  process: (eventType: string) => `process ${eventType}`,
} as const;

export const METRIC = {
  PUBLISHED: 'evco.events.published',
  HANDLED: 'evco.deliveries.handled',
  FAILED: 'evco.deliveries.failed',
  RETRIED: 'evco.deliveries.retried',
  TIMED_OUT: 'evco.deliveries.timed_out',
  DEAD_LETTERED: 'evco.deliveries.dead_lettered',
  REPLAYED: 'evco.deliveries.replayed',
  HANDLER_DURATION: 'evco.handler.duration',
  END_TO_END_LATENCY: 'evco.delivery.latency',
  PENDING: 'evco.deliveries.pending',
  RUNNING: 'evco.deliveries.running',
  DEAD: 'evco.deliveries.dead',
  LAG: 'evco.handler.lag',
} as const;

/** Keys added to log lines written while an attempt's span is active. */
export const LOG_KEYS = { TRACE_ID: 'trace_id', SPAN_ID: 'span_id', TRACE_FLAGS: 'trace_flags' } as const;
