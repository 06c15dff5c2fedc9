/**
 * How long a shutdown or a close goes on waiting, once its own work is done or its deadline has
 * passed, for the store and publisher calls still in flight and for closing the adapters:
 * milliseconds when they answer; a store that hangs (PgBouncer queueing for a dead Postgres, a
 * pool's end waiting for those statements) is given up after this.
 */
export const CLOSE_BUDGET_MS = 2000;

/**
 * `work`'s outcome, or `onTimeout()`'s if `work` has not settled within `ms` (a value, or what it
 * throws). `work` is not cancelled: it goes on and settles, or not, on its own; its late
 * rejection is left handled. The timer is cleared either way.
 */
export async function within<T, U>(work: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<U>((resolve, reject) => {
    timer = setTimeout(
      () => {
        try {
          resolve(onTimeout());
        } catch (error) {
          reject(error);
        }
      },
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
