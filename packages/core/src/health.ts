import { maskedMessage } from './mask.js';
import type { HealthStatus } from './ports.js';

/**
 * The status of a health check that failed: unhealthy, the time since `startedAt` (a
 * `performance.now()` reading taken when the check began), what the adapter knows about itself
 * (`details`) and the error's message with credentials masked, so it can go into the status view.
 */
export function unhealthyStatus(
  error: unknown,
  startedAt: number,
  details: Record<string, unknown> = {},
): HealthStatus {
  return {
    healthy: false,
    latencyMs: performance.now() - startedAt,
    details: { ...details, error: maskedMessage(error) },
  };
}

/** Runs a health check that must not throw: a check that throws reads as `unhealthyStatus`. */
export async function safeHealth(check: () => Promise<HealthStatus>): Promise<HealthStatus> {
  const started = performance.now();
  try {
    return await check();
  } catch (error) {
    return unhealthyStatus(error, started);
  }
}
