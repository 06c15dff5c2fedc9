import { isPosition, type Position } from '@evco/core';
import { UsageError } from './errors.js';

/**
 * A position given on the command line (`--cursor`): a decimal integer, as every listing prints
 * it, which is what the admin API takes. Checked here so a typo is a usage error, not a query.
 */
export function parsePosition(value: string, flag: string): Position {
  if (!/^(0|[1-9][0-9]{0,19})$/.test(value) || !isPosition(value)) {
    throw new UsageError(
      `${flag} must be a position (a decimal integer as listed), got "${value.slice(0, 50)}"`,
    );
  }
  return value;
}

/** A position as printed and as `--cursor` takes it back. */
export function showPosition(position: Position): string {
  return position;
}
