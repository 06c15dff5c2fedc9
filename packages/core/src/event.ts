import { uuidv7 } from 'uuidv7';
import { z } from 'zod';
import { EventValidationError, type ValidationIssue } from './errors.js';
import { checkString, FORBIDDEN_KEYS, freezeJsonObject, isPlainObject } from './json.js';

/** Serialized `eventData` above this is rejected unless configured otherwise. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

export const NAME_PATTERN = /^[A-Za-z0-9_.:-]+$/;

export interface EventMetadata {
  /** Version of the `eventData` shape, for upcasting old events. @default 1 */
  readonly schemaVersion: number;
  /** Shared by every event of one business flow; defaults to the root event's own id. */
  readonly correlationId?: string;
  /** The id of the event whose handler published this one. */
  readonly causationId?: string;
  /** W3C trace context, carried through to handlers. */
  readonly traceparent?: string;
  readonly [key: string]: string | number | undefined;
}

/** What a handler sees of an untyped event's data: JSON, read it with a schema or a type guard. */
export type EventData = Readonly<Record<string, unknown>>;

/** A validated, deeply frozen domain event. Create one with `createDomainEvent` or `defineEvent`. */
export interface DomainEvent<TType extends string = string, TData extends object = EventData> {
  /** UUIDv7; the dedupe key everywhere. */
  readonly id: string;
  /** Past tense, e.g. `UserRegistered`. */
  readonly eventType: TType;
  /** The entity the event is about. */
  readonly aggregateId: string;
  readonly aggregateType?: string;
  /** When given, `(aggregateId, aggregateVersion)` is unique: optimistic concurrency per aggregate. */
  readonly aggregateVersion?: number;
  readonly eventData: Readonly<TData>;
  readonly metadata: EventMetadata;
  /** Domain time, always UTC. */
  readonly occurredAt: Date;
}

/** An event as stored: its global position (append order) and when the store recorded it. */
export interface RecordedEvent<TType extends string = string, TData extends object = EventData>
  extends DomainEvent<TType, TData> {
  readonly position: bigint;
  readonly recordedAt: Date;
}

/** What `createDomainEvent` accepts. */
export interface DomainEventInput<
  TType extends string = string,
  TData extends object = Record<string, unknown>,
> {
  id?: string;
  eventType: TType;
  aggregateId: string;
  aggregateType?: string;
  aggregateVersion?: number;
  /** @default {} */
  eventData?: TData;
  metadata?: Partial<EventMetadata> & Record<string, string | number | undefined>;
  /** A `Date` or an ISO-8601 string **with** a timezone. @default now */
  occurredAt?: Date | string;
}

export interface CreateEventOptions {
  /** @default 262144 (256 KiB) */
  maxPayloadBytes?: number;
}

const nameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .regex(NAME_PATTERN, 'may only contain letters, digits and _ . : -');

const idString = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const eventMetadataSchema = z
  .object({
    schemaVersion: z.number().int().min(1).max(1_000_000).optional(),
    correlationId: idString.optional(),
    causationId: idString.optional(),
    traceparent: z.string().regex(TRACEPARENT, 'must be a W3C traceparent').optional(),
  })
  .catchall(z.union([z.string().max(2000), z.number()]).optional());

/**
 * The envelope as zod sees it. `eventData` is checked by a dedicated walk (cycles, BigInt,
 * prototype keys, size) that zod cannot express; everything else is here, so HTTP layers can
 * reuse this schema for their request bodies.
 */
export const domainEventInputSchema = z.strictObject({
  id: z.uuid('must be a UUID').optional(),
  eventType: nameSchema,
  aggregateId: idString,
  aggregateType: nameSchema.optional(),
  aggregateVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  eventData: z.unknown().optional(),
  metadata: eventMetadataSchema.optional(),
  occurredAt: z
    .union([
      z.date(),
      z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time with a timezone' }),
    ])
    .optional(),
});

/** Events produced by `createDomainEvent`, with their serialized payload size: re-validation is skipped. */
const created = new WeakMap<object, number>();

/**
 * Validates and freezes a domain event. Throws `EventValidationError` listing every bad field;
 * nothing is written anywhere before this passes.
 */
export function createDomainEvent<TType extends string, TData extends object>(
  input: DomainEventInput<TType, TData>,
  options: CreateEventOptions = {},
): DomainEvent<TType, TData> {
  const maxBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const issues: ValidationIssue[] = [];
  if (!isPlainObject(input)) {
    throw new EventValidationError([{ path: '', message: 'an event must be a plain object' }]);
  }
  const parsed = domainEventInputSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.path[0] === 'eventData') continue;
      issues.push({ path: issue.path.map(String).join('.'), message: issue.message });
    }
  }
  const data = freezeJsonObject(input.eventData ?? {}, 'eventData', maxBytes, issues);
  const metadata = buildMetadata(input.metadata, issues);
  if (typeof input.aggregateId === 'string') checkString(input.aggregateId, 'aggregateId', issues);
  if (issues.length > 0 || !parsed.success || !data || !metadata) throw new EventValidationError(issues);

  const value = parsed.data;
  const id = value.id?.toLowerCase() ?? uuidv7();
  if (metadata.correlationId === undefined) metadata.correlationId = id;
  const event: {
    -readonly [K in keyof DomainEvent]: DomainEvent[K];
  } = {
    id,
    eventType: value.eventType,
    aggregateId: value.aggregateId,
    eventData: data.value,
    metadata: Object.freeze(metadata) as EventMetadata,
    occurredAt: value.occurredAt === undefined ? new Date() : new Date(value.occurredAt),
  };
  if (value.aggregateType !== undefined) event.aggregateType = value.aggregateType;
  if (value.aggregateVersion !== undefined) event.aggregateVersion = value.aggregateVersion;
  Object.freeze(event);
  created.set(event, data.bytes);
  return event as unknown as DomainEvent<TType, TData>;
}

/**
 * `new GenericDomainEvent({...})` or `GenericDomainEvent({...})`: the name the original module
 * used for an untyped event. Same as `createDomainEvent`.
 */
export const GenericDomainEvent = function GenericDomainEvent(input: DomainEventInput) {
  return createDomainEvent(input);
} as unknown as {
  (input: DomainEventInput): DomainEvent;
  new (input: DomainEventInput): DomainEvent;
};

/**
 * Returns the event itself when it was produced by `createDomainEvent` within the size limit,
 * otherwise validates it from scratch (a hand-built or modified object).
 */
export function ensureDomainEvent(
  event: DomainEvent | DomainEventInput,
  options: CreateEventOptions = {},
): DomainEvent {
  const bytes = created.get(event);
  if (bytes !== undefined && bytes <= (options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES)) {
    return event as DomainEvent;
  }
  return createDomainEvent(event as DomainEventInput, options);
}

function buildMetadata(
  input: unknown,
  issues: ValidationIssue[],
): Record<string, string | number> | undefined {
  const out: Record<string, string | number> = { schemaVersion: 1 };
  if (input === undefined) return out;
  if (!isPlainObject(input)) {
    issues.push({ path: 'metadata', message: 'must be a plain object' });
    return undefined;
  }
  const keys = Object.keys(input);
  if (keys.length > 64) issues.push({ path: 'metadata', message: 'has more than 64 keys' });
  const before = issues.length;
  for (const key of keys) {
    const path = `metadata.${key}`;
    if (FORBIDDEN_KEYS.has(key)) {
      issues.push({ path, message: `the key "${key}" is not allowed` });
      continue;
    }
    if (!NAME_PATTERN.test(key) || key.length > 100) {
      issues.push({ path, message: 'metadata keys may only contain letters, digits and _ . : - (max 100)' });
      continue;
    }
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value === 'string') checkString(value, path, issues);
    // Type and range problems are reported by the zod schema; only copy well-typed values here.
    if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) out[key] = value;
  }
  return issues.length > before ? undefined : out;
}

/** Minimal Standard Schema (https://standardschema.dev) surface: zod 4, valibot, arktype all provide it. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) =>
      | { readonly value: Output; readonly issues?: undefined }
      | {
          readonly issues: ReadonlyArray<{
            message: string;
            path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>;
          }>;
        }
      | Promise<unknown>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];

export interface TypedEventInput<TData> {
  aggregateId: string;
  data: TData;
  id?: string;
  aggregateType?: string;
  aggregateVersion?: number;
  metadata?: Partial<EventMetadata> & Record<string, string | number | undefined>;
  occurredAt?: Date | string;
}

export interface EventDefinition<TType extends string, TData extends object> {
  readonly eventType: TType;
  readonly schemaVersion: number;
  readonly aggregateType: string | undefined;
  readonly schema: StandardSchemaV1<unknown, TData>;
  /** Validates `data` against the schema and the envelope, returns a frozen typed event. */
  create(input: TypedEventInput<TData>, options?: CreateEventOptions): DomainEvent<TType, TData>;
  /** Type guard on the event type only (cheap). */
  is<E extends DomainEvent<string, object>>(event: E): event is E & DomainEvent<TType, TData>;
  /** Checks type and validates `eventData` against the schema; throws `EventValidationError`. */
  parse<E extends DomainEvent>(event: E): E & DomainEvent<TType, TData>;
}

/**
 * A typed event contract: `defineEvent('UserRegistered', z.strictObject({...}))`.
 * Handlers registered with a definition get typed, schema-checked events.
 */
export function defineEvent<TType extends string, S extends StandardSchemaV1<unknown, object>>(
  eventType: TType,
  schema: S,
  options: { schemaVersion?: number; aggregateType?: string } = {},
): EventDefinition<TType, InferOutput<S>> {
  const typeCheck = nameSchema.safeParse(eventType);
  if (!typeCheck.success) {
    throw new EventValidationError(
      [{ path: 'eventType', message: typeCheck.error.issues[0]?.message ?? 'invalid' }],
      {
        subject: 'event definition',
      },
    );
  }
  const schemaVersion = options.schemaVersion ?? 1;
  type TData = InferOutput<S>;

  const validateData = (data: unknown): TData => {
    const result = schema['~standard'].validate(data);
    if (result instanceof Promise) {
      throw new EventValidationError([{ path: 'eventData', message: 'async schemas are not supported' }]);
    }
    const r = result as {
      value?: TData;
      issues?: ReadonlyArray<{ message: string; path?: ReadonlyArray<unknown> }>;
    };
    if (r.issues) {
      throw new EventValidationError(
        r.issues.map((i) => ({
          path: [
            'eventData',
            ...(i.path ?? []).map((p) =>
              String(typeof p === 'object' && p ? (p as { key: unknown }).key : p),
            ),
          ].join('.'),
          message: i.message,
        })),
        { subject: `${eventType} event` },
      );
    }
    return r.value as TData;
  };

  return Object.freeze({
    eventType,
    schemaVersion,
    aggregateType: options.aggregateType,
    schema: schema as unknown as StandardSchemaV1<unknown, TData>,
    create(input: TypedEventInput<TData>, createOptions?: CreateEventOptions) {
      const data = validateData(input.data);
      return createDomainEvent(
        {
          id: input.id,
          eventType,
          aggregateId: input.aggregateId,
          aggregateType: input.aggregateType ?? options.aggregateType,
          aggregateVersion: input.aggregateVersion,
          eventData: data as object,
          metadata: { ...input.metadata, schemaVersion: input.metadata?.schemaVersion ?? schemaVersion },
          occurredAt: input.occurredAt,
        },
        createOptions,
      ) as unknown as DomainEvent<TType, TData>;
    },
    is<E extends DomainEvent<string, object>>(event: E): event is E & DomainEvent<TType, TData> {
      return event.eventType === eventType;
    },
    parse<E extends DomainEvent>(event: E): E & DomainEvent<TType, TData> {
      if (event.eventType !== eventType) {
        throw new EventValidationError([
          { path: 'eventType', message: `expected "${eventType}", got "${event.eventType}"` },
        ]);
      }
      validateData(event.eventData);
      return event as E & DomainEvent<TType, TData>;
    },
  });
}
