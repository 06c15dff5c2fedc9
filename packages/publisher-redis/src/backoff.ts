/**
 * Delay before reconnect attempt `attempt` (1-based): exponential from `baseMs`, capped at
 * `maxMs`, with jitter in the upper half. The jitter keeps a fleet that lost Redis at the same
 * moment from reconnecting in lockstep; staying under the cap bounds how long a process takes to
 * notice that Redis is back.
 */
export function reconnectDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return Math.max(1, Math.round(ceiling / 2 + (random() * ceiling) / 2));
}
