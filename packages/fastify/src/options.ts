/**
 * The plugin's options: a zod schema (every problem listed at registration, before anything
 * starts) and the resolved shape the routes use.
 */
import {
  type CoordinatorOptions,
  type EventDefinition,
  type EventDrivenCoordinator,
  InvalidOptionsError,
  type Logger,
} from '@evco/core';
import { toIssues } from '@evco/core/adapter';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';

/** Decides whether a request may use the protected routes. See `bearerToken()`. */
export type AuthCheck = (request: FastifyRequest) => boolean | Promise<boolean>;

/** Builds the coordinator when the app starts, logging through the app's logger. */
export type CoordinatorFactory = (context: { logger: Logger }) => Promise<EventDrivenCoordinator>;

export type EventTypeList =
  | ReadonlyArray<EventDefinition<string, object>>
  | Readonly<Record<string, ReadonlyArray<EventDefinition<string, object>>>>;

export interface PublishRouteOptions {
  /**
   * The event types `POST {prefix}/events` accepts, each checked against its `defineEvent`
   * contract (a list, or lists per module name). @default any type; only the envelope is checked
   */
  eventTypes?: EventTypeList | undefined;
  /** Publishing needs `auth` like the other mutating routes. @default true */
  requireAuth?: boolean | undefined;
  /** Events per request (`{ "events": [...] }`, stored atomically). @default 1000 */
  maxBatch?: number | undefined;
}

export interface EvcoPluginOptions {
  /**
   * The coordinator: a running instance (e.g. from `createCoordinator`), the options to create
   * one with (`store`, `publisher`, …; the app's logger is used unless one is given), or a
   * factory called when the app starts. Either way the plugin shuts it down when the app closes.
   */
  coordinator: EventDrivenCoordinator | CoordinatorOptions | CoordinatorFactory;
  /** Where the routes live. @default '/evco' */
  prefix?: string | undefined;
  /**
   * Guards the mutating routes (publish, retry, replay, retire) and the privileged parts of
   * `status`. Without it those routes answer 404 `ADMIN_DISABLED`. @default undefined
   */
  auth?: AuthCheck | undefined;
  /**
   * Also require `auth` for the read routes (events, unprocessed, dead letters, handlers, replays).
   * `true` without `auth` is `INVALID_OPTIONS` at registration. @default false
   */
  protectReads?: boolean | undefined;
  /** Appended to "admin routes are off" / "unauthorized" messages, e.g. how to get a token. */
  authHint?: string | undefined;
  /** `POST {prefix}/events`; `false` leaves it out. @default {} (on, behind auth, any type) */
  publish?: PublishRouteOptions | false | undefined;
  /** Serve the dashboard at `{prefix}/dashboard/`. @default true */
  dashboard?: boolean | { root?: string | undefined } | undefined;
  /** How long the drain on close waits for in-flight handlers. @default the coordinator's shutdownTimeoutMs */
  shutdownTimeoutMs?: number | undefined;
  /** A store that does not answer within this is not ready. @default 2000 */
  readyTimeoutMs?: number | undefined;
  /**
   * Extra facts for `GET {prefix}/status` under `service` (e.g. the app's name and version).
   * `admin` is true for a request `auth` accepted: return locations and other internals only then.
   */
  describe?: ((context: { admin: boolean }) => Record<string, unknown>) | undefined;
}

const fn = (what: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: `must be ${what}` });

/** One entry of `publish.eventTypes`: what `defineEvent` returns (the routes call its `create`
 * and its schema's `~standard.validate`). */
function isContract(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Partial<Record<'eventType' | 'create' | 'schema', unknown>>;
  const standard = (d.schema as { '~standard'?: { validate?: unknown } | undefined } | undefined)?.[
    '~standard'
  ];
  return (
    typeof d.eventType === 'string' &&
    typeof d.create === 'function' &&
    typeof standard?.validate === 'function'
  );
}

/**
 * `publish.eventTypes`: a list of contracts, or lists per module. A type's name or a hand-written
 * `{ eventType }` was accepted and failed every publish of that type with a 500; each such entry
 * is now an issue at its own path.
 */
const eventTypesSchema = z.unknown().superRefine((value, ctx) => {
  const lists: Array<[Array<string | number>, unknown]> = Array.isArray(value)
    ? [[[], value]]
    : typeof value === 'object' && value !== null
      ? Object.entries(value).map(([module, list]) => [[module], list])
      : [];
  if (lists.length === 0 && !(typeof value === 'object' && value !== null)) {
    ctx.addIssue({ code: 'custom', message: 'must be a list of defineEvent contracts, or lists per module' });
    return;
  }
  for (const [path, list] of lists) {
    if (!Array.isArray(list)) {
      ctx.addIssue({ code: 'custom', path, message: 'must be a list of defineEvent contracts' });
      continue;
    }
    list.forEach((entry, index) => {
      if (!isContract(entry)) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, index],
          message: "must be an event contract from defineEvent('Type', schema), not a type's name",
        });
      }
    });
  }
});

const PREFIX = /^(\/[A-Za-z0-9._~-]+)*$/;

const optionsSchema = z.strictObject({
  coordinator: z.custom<EvcoPluginOptions['coordinator']>(
    (v) => typeof v === 'function' || (typeof v === 'object' && v !== null),
    { message: 'must be a coordinator, coordinator options or a factory' },
  ),
  prefix: z
    .string()
    .max(200)
    .regex(PREFIX, 'must be empty or start with / and contain path segments without a trailing /')
    .optional(),
  auth: fn('a function (request) => boolean | Promise<boolean>').optional(),
  protectReads: z.boolean().optional(),
  authHint: z.string().max(500).optional(),
  publish: z
    .union([
      z.literal(false),
      z.strictObject({
        eventTypes: eventTypesSchema.optional(),
        requireAuth: z.boolean().optional(),
        maxBatch: z.number().int().min(1).max(10_000).optional(),
      }),
    ])
    .optional(),
  dashboard: z.union([z.boolean(), z.strictObject({ root: z.string().min(1).optional() })]).optional(),
  shutdownTimeoutMs: z.number().int().min(0).max(3_600_000).optional(),
  readyTimeoutMs: z.number().int().min(1).max(60_000).optional(),
  describe: fn('a function ({ admin }) => object').optional(),
});

export interface ResolvedOptions {
  coordinator: EvcoPluginOptions['coordinator'];
  prefix: string;
  auth: AuthCheck | undefined;
  protectReads: boolean;
  authHint: string | undefined;
  publish:
    | (Required<Omit<PublishRouteOptions, 'eventTypes'>> & Pick<PublishRouteOptions, 'eventTypes'>)
    | false;
  dashboard: false | { root: string | undefined };
  shutdownTimeoutMs: number | undefined;
  readyTimeoutMs: number;
  describe: EvcoPluginOptions['describe'];
}

/** Throws `InvalidOptionsError` listing every problem. */
export function resolveOptions(options: EvcoPluginOptions): ResolvedOptions {
  const parsed = optionsSchema.safeParse(options ?? {});
  const issues = parsed.success ? [] : toIssues(parsed.error);
  if (issues.length > 0) {
    throw new InvalidOptionsError('evco plugin options', issues, { source: 'fastify' });
  }
  const o = options;
  const publish = o.publish ?? {};
  const dashboard = o.dashboard ?? true;
  return {
    coordinator: o.coordinator,
    prefix: o.prefix ?? '/evco',
    auth: o.auth,
    protectReads: o.protectReads ?? false,
    authHint: o.authHint,
    publish:
      publish === false
        ? false
        : {
            eventTypes: publish.eventTypes,
            requireAuth: publish.requireAuth ?? true,
            maxBatch: publish.maxBatch ?? 1000,
          },
    dashboard: dashboard === false ? false : { root: dashboard === true ? undefined : dashboard.root },
    shutdownTimeoutMs: o.shutdownTimeoutMs,
    readyTimeoutMs: o.readyTimeoutMs ?? 2000,
    describe: o.describe,
  };
}

/** A coordinator instance rather than its options (duck-typed: two copies of core may be installed). */
export function isCoordinator(value: unknown): value is EventDrivenCoordinator {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as EventDrivenCoordinator).getCoordinatorStatus === 'function' &&
    typeof (value as EventDrivenCoordinator).shutdown === 'function'
  );
}
