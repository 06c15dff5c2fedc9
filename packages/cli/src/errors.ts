import { isEvcoError, maskSecrets } from '@evco/core';

/**
 * Exit codes: 0 done, 1 the operation failed (store unreachable, unknown id, dead deliveries
 * after a replay), 2 the command line is wrong (unknown command or flag, bad value), 3 `status`
 * or `handlers` is incomplete (the store answers, its counts query did not), or `retry` was given
 * delivery ids that named no dead letter (the others retried). 130 is Ctrl-C.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, incomplete: 3, interrupted: 130 } as const;

/** The command line itself is wrong: exit 2, before anything is opened. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The operation ran and failed in a way the user should read as a failure (exit 1). */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

/**
 * One line for stderr: no stack, no newline inside, credentials masked. evco's own errors carry
 * their package (`[evco:store-postgres] …`), except the CLI's own: the line already begins
 * `evco: `; anything else gets its class name.
 */
export function describeFailure(error: unknown): string {
  let text: string;
  if (isEvcoError(error)) {
    const message = error.source === 'cli' ? error.message.replace(/^\[evco:cli\] /, '') : error.message;
    // store-sqlite keeps the file out of its messages (a service may show them to clients) and
    // in details.file; the operator at this shell named it, so the line says which file it was.
    const file = error.details?.file;
    text = typeof file === 'string' && !message.includes(file) ? `${message} (file: ${file})` : message;
    if (isEvcoError(error, 'UNKNOWN_HANDLER')) text += ' (see evco handlers)';
  } else if (error instanceof UsageError || error instanceof CommandFailed) {
    text = error.message;
  } else if (error instanceof Error) {
    text = `${error.name}: ${error.message}`;
  } else {
    text = String(error);
  }
  return maskSecrets(text)
    .replace(/\s*\n\s*/g, ' ')
    .slice(0, 2000);
}

/** Exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (isEvcoError(error, 'INVALID_OPTIONS')) return EXIT.usage;
  // A handler name nobody subscribed (core refuses it for dead letters, retry and replay) is a
  // wrong argument, as it is for `handlers retire`.
  if (isEvcoError(error, 'UNKNOWN_HANDLER')) return EXIT.usage;
  return EXIT.failure;
}

/**
 * store-postgres says "run store.migrate() or `evco migrate`" for a schema without evco tables.
 * At this shell that advice must carry the schema the command used, and the more likely cause
 * when the store should exist: a mistyped `--schema` (migrating it would create an empty store).
 */
export function withSchemaHint(line: string, flags: { sqlite?: string; schema?: string }): string {
  if (flags.sqlite !== undefined || !line.includes('`evco migrate`')) return line;
  const schema = flags.schema ?? 'evco';
  return line.replace(
    '`evco migrate`',
    `\`evco migrate --schema ${schema}\` if schema "${schema}" is the one you meant (a mistyped --schema would get an empty store)`,
  );
}
