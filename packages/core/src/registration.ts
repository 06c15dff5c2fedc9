import { z } from 'zod';
import type { HandlerTarget, RegisterHandlerOptions } from './coordinator-types.js';
import type { RegisteredHandler } from './dispatcher.js';
import { DuplicateHandlerError, InvalidOptionsError, type ValidationIssue } from './errors.js';
import { type EventDefinition, isName, nameInput, type RecordedEvent } from './event.js';
import { resolveRetry, retryPolicySchema } from './options.js';
import type { EventHandler } from './ports.js';
import type { RetryPolicy } from './retry.js';
import { parseInput } from './zod-issues.js';

const registerOptionsSchema = z.strictObject({
  name: nameInput.optional(),
  retry: retryPolicySchema.optional(),
  timeoutMs: z.number().int().min(1).max(86_400_000).optional(),
  ordering: z.enum(['aggregate', 'none']).optional(),
});

/** The coordinator settings a registration falls back on. */
export interface RegistrationDefaults {
  handlerTimeoutMs: number;
  leaseMs: number;
  retry: RetryPolicy;
}

/**
 * Checks a `registerHandler` call before anything is stored and turns it into one dispatcher
 * entry per event type: every problem of the target, handler and name in one
 * `InvalidOptionsError`; a name already registered here (`taken`) is a `DuplicateHandlerError`.
 */
export function resolveRegistration(
  target: HandlerTarget,
  handler: EventHandler<RecordedEvent>,
  options: RegisterHandlerOptions,
  defaults: RegistrationDefaults,
  taken: (name: string) => readonly RegisteredHandler[],
): { name: string; registrations: RegisteredHandler[] } {
  const parsed = parseInput(registerOptionsSchema, options, 'handler options');
  const targets = (Array.isArray(target) ? target : [target]) as Array<
    string | EventDefinition<string, object>
  >;
  const issues: ValidationIssue[] = [];
  if (targets.length === 0)
    issues.push({ path: 'eventType', message: 'at least one event type is required' });
  for (const t of targets) {
    const type = typeof t === 'string' ? t : t?.eventType;
    if (!isName(type)) {
      // The same rule text as a publish of that type gets (nameInput's first complaint).
      const rule = nameInput.safeParse(type).error?.issues[0]?.message ?? 'must be a string';
      issues.push({ path: 'eventType', message: `"${String(type)}" is not a valid event type: ${rule}` });
    }
  }
  const isHandler =
    typeof handler === 'function' ||
    (typeof handler === 'object' &&
      handler !== null &&
      typeof (handler as { handle?: unknown }).handle === 'function');
  if (!isHandler) issues.push({ path: 'handler', message: 'must be a function or an object with handle()' });
  const name = parsed.name ?? defaultHandlerName(handler);
  if (!name) {
    issues.push({ path: 'name', message: 'the handler has no function or class name; pass { name }' });
  } else if (!isName(name)) {
    issues.push({
      path: 'name',
      message: `"${name}" may only contain letters, digits and _ . : -; pass { name }`,
    });
  }
  if (issues.length > 0 || !name) throw new InvalidOptionsError('handler registration', issues);
  const timeoutMs = parsed.timeoutMs ?? defaults.handlerTimeoutMs;
  if (timeoutMs >= defaults.leaseMs) {
    throw new InvalidOptionsError('handler options', [
      { path: 'timeoutMs', message: `must be below the coordinator's leaseMs (${defaults.leaseMs})` },
    ]);
  }
  // One call per name: a later call under a taken name is a collision (another function) or an
  // implicit widening of the first one's types; both must be explicit.
  const existing = taken(name);
  if (existing.length > 0) {
    throw new DuplicateHandlerError(name, existing[0]!.eventType, {
      reason: existing[0]!.handler !== handler ? 'other-function' : 'separate-call',
    });
  }
  const registrations: RegisteredHandler[] = [];
  for (const t of targets) {
    const eventType = typeof t === 'string' ? t : t.eventType;
    if (registrations.some((r) => r.eventType === eventType)) {
      throw new DuplicateHandlerError(name, eventType);
    }
    registrations.push({
      name,
      eventType,
      ordering: parsed.ordering ?? 'aggregate',
      retry: resolveRetry(parsed.retry, defaults.retry),
      timeoutMs,
      handler: handler as EventHandler,
      parse: typeof t === 'string' ? undefined : (event) => t.parse(event) as RecordedEvent,
    });
  }
  return { name, registrations };
}

function defaultHandlerName(handler: unknown): string | undefined {
  if (typeof handler === 'function') return handler.name || undefined;
  if (typeof handler === 'object' && handler !== null) {
    const name = (handler as { constructor?: { name?: string | undefined } | undefined }).constructor?.name;
    return name && name !== 'Object' ? name : undefined;
  }
  return undefined;
}
