export { reconnectDelay } from './backoff.js';
export {
  DEFAULTS as REDIS_PUBLISHER_DEFAULTS,
  type RedisPublisherOptions,
  redisPublisherOptionsSchema,
} from './options.js';
export { createRedisPublisher, type RedisPublisher } from './redis-publisher.js';
export {
  type DecodeResult,
  decodeAnnouncement,
  encodeAnnouncement,
  MAX_FIELD_LENGTH,
  WIRE_VERSION,
} from './wire-format.js';
