export interface RetryPolicy {
  /** Attempts in total, the first included; after the last failure the delivery is dead. @default 5 */
  maxAttempts: number;
  /** Upper bound of the first retry delay. @default 200 */
  baseDelayMs: number;
  /** Cap on any retry delay. @default 60000 */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 60_000,
});

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * delay = random(0, min(maxDelay, base * 2^(attempt-1))). Full jitter spreads a burst of
 * failures (a dependency going down) instead of retrying them in lock step.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  failedAttempt: number,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failedAttempt - 1));
  return Math.floor(random() * exp);
}
