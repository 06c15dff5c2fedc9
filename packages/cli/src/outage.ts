import { isEvcoError } from '@evco/core';
import type { Context } from './context.js';
import { describeFailure } from './errors.js';

/**
 * For the commands that watch (`tail`, `replay`): a poll that finds the store unavailable (a
 * database restart, a failover, a network blip) is said once on stderr and tried again at the
 * next tick, instead of ending a watch the operator left running; the line after the outage
 * says it answers again. Anything else still fails the command.
 */
export function outageTolerant(ctx: Context, what: string) {
  let down = false;
  return async <T>(poll: () => Promise<T>): Promise<T | undefined> => {
    try {
      const result = await poll();
      if (down) ctx.io.stderr.write(`evco: the store answers again; ${what} goes on\n`);
      down = false;
      return result;
    } catch (error) {
      if (!isEvcoError(error, 'STORE_UNAVAILABLE')) throw error;
      if (!down) {
        ctx.io.stderr.write(
          `evco: ${describeFailure(error)}; ${what} tries again until it answers (Ctrl-C stops)\n`,
        );
      }
      down = true;
      return undefined;
    }
  };
}
