export { eventContext, traceLogFields } from './carrier.js';
export {
  createOpenTelemetryInstrumentation,
  type OpenTelemetryOptions,
  openTelemetryOptionsSchema,
} from './instrumentation.js';
export { ATTR, LOG_KEYS, MESSAGING_SYSTEM, METRIC, SPAN } from './names.js';
