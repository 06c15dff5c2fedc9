import { UsageError } from './errors.js';

/**
 * A position given on the command line (`--cursor`): a decimal integer, as every listing prints
 * it. Converted here, in one place, to what the admin API takes.
 */
export function parsePosition(value: string, flag: string): bigint {
  if (!/^(0|[1-9][0-9]{0,29})$/.test(value)) {
    throw new UsageError(
      `${flag} must be a position (a decimal integer as listed), got "${value.slice(0, 50)}"`,
    );
  }
  return BigInt(value);
}

/** A position as printed and as `--cursor` takes it back. */
export function showPosition(position: bigint | string | number): string {
  return String(position);
}
