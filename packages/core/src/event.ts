import { z } from 'zod';
import { isStorableDate, storableDateInput } from './date-range.js';
import { EventValidationError, type ValidationIssue } from './errors.js';
import { newEventId } from './ids.js';
import {
  checkString,
  deepFreezeJson,
  FORBIDDEN_KEYS,
  freezeJsonObject,
  isPlainObject,
  type JsonObject,
} from './json.js';
import { formatPosition, type Position } from './position.js';
import { isMissingAt, toIssues } from './zod-issues.js';

/** Serialized `eventData` above this is rejected unless configured otherwise. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

export const NAME_PATTERN = /^[A-Za-z0-9_.:-]+$/;

/** Longest event type, aggregate id or type, handler name or id evco accepts (and every store can index). */
export const MAX_NAME_LENGTH = 200;

/** A name (event type, handler name): 1 to `MAX_NAME_LENGTH` characters of `NAME_PATTERN`. */
export const nameInput = z
  .string()
  .min(1)
  .max(MAX_NAME_LENGTH)
  .regex(NAME_PATTERN, 'may only contain letters, digits and _ . : -');

/** True for a string `nameInput` accepts (the fast path: no zod call). */
export const isName = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(v);

export interface EventMetadata {
  /** Version of the `eventData` shape, for upcasting old events. @default 1 */
  readonly schemaVersion: number;
  /** Shared by every event of one business flow; defaults to the root event's own id. */
  readonly correlationId?: string | undefined;
  /** The id of the event whose handler published this one. */
  readonly causationId?: string | undefined;
  /** W3C trace context, carried through to handlers. */
  readonly traceparent?: string | undefined;
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
  readonly aggregateType?: string | undefined;
  /** When given, `(aggregateId, aggregateVersion)` is unique: optimistic concurrency per aggregate. */
  readonly aggregateVersion?: number | undefined;
  readonly eventData: Readonly<TData>;
  readonly metadata: EventMetadata;
  /** Domain time, always UTC. */
  readonly occurredAt: Date;
}

/** An event as stored: its global position (append order) and when the store recorded it. */
export interface RecordedEvent<TType extends string = string, TData extends object = EventData>
  extends DomainEvent<TType, TData> {
  /** Decimal string (`"42"`), see `Position`: compare with `comparePositions`. */
  readonly position: Position;
  readonly recordedAt: Date;
}

/** What `createDomainEvent` accepts. */
export interface DomainEventInput<
  TType extends string = string,
  TData extends object = Record<string, unknown>,
> {
  id?: string | undefined;
  eventType: TType;
  aggregateId: string;
  aggregateType?: string | undefined;
  aggregateVersion?: number | undefined;
  /** @default {} */
  eventData?: TData | undefined;
  metadata?: (Partial<EventMetadata> & Record<string, string | number | undefined>) | undefined;
  /** A `Date` or an ISO-8601 string **with** a timezone. @default now */
  occurredAt?: Date | string | undefined;
}

export interface CreateEventOptions {
  /** @default 262144 (256 KiB) */
  maxPayloadBytes?: number | undefined;
}

const nameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`)
  .regex(NAME_PATTERN, 'may only contain letters, digits and _ . : -');

const idString = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`);

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const eventMetadataSchema = z
  .object({
    schemaVersion: z.number().int().min(1).max(1_000_000).optional(),
    correlationId: idString.optional(),
    causationId: idString.optional(),
    traceparent: z.string().regex(TRACEPARENT, 'must be a W3C traceparent').optional(),
  })
  .catchall(
    z
      .union([z.string().max(2000), z.number()], {
        error: (issue) =>
          issue.code === 'invalid_union'
            ? `must be a string or a number, got ${typeName(issue.input)}`
            : undefined,
      })
      .optional(),
  );

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

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
  occurredAt: storableDateInput.optional(),
});

/**
 * The runtime shape of every event `createDomainEvent` returns. The private field remembers
 * the payload size so that publishing an already validated event costs nothing more; it does
 * not show in spreads, `JSON.stringify` or `Object.keys`, so events still look like plain data.
 */
class ValidatedEvent {
  readonly id: string;
  readonly eventType: string;
  readonly aggregateId: string;
  declare readonly aggregateType?: string;
  declare readonly aggregateVersion?: number;
  readonly eventData: JsonObject;
  readonly metadata: EventMetadata;
  readonly occurredAt: Date;
  readonly #bytes: number;
  /** The id was generated here, not given by the caller: an idempotent handler publish may replace it. */
  readonly #generatedId: boolean;

  constructor(
    id: string,
    value: z.output<typeof domainEventInputSchema>,
    eventData: JsonObject,
    metadata: EventMetadata,
    bytes: number,
    generatedId: boolean,
  ) {
    this.id = id;
    this.eventType = value.eventType;
    this.aggregateId = value.aggregateId;
    if (value.aggregateType !== undefined) this.aggregateType = value.aggregateType;
    if (value.aggregateVersion !== undefined) this.aggregateVersion = value.aggregateVersion;
    this.eventData = eventData;
    this.metadata = metadata;
    this.occurredAt = value.occurredAt === undefined ? new Date() : new Date(value.occurredAt);
    this.#bytes = bytes;
    this.#generatedId = generatedId;
    Object.freeze(this);
  }

  static payloadBytes(value: object): number | undefined {
    return #bytes in value ? (value as ValidatedEvent).#bytes : undefined;
  }

  static hasGeneratedId(value: object): boolean {
    return #generatedId in value && (value as ValidatedEvent).#generatedId;
  }

  /** The same event under another id (its defaulted correlation id follows). */
  static withId(event: ValidatedEvent, id: string): ValidatedEvent {
    const metadata =
      event.metadata.correlationId === event.id
        ? Object.freeze({ ...event.metadata, correlationId: id })
        : event.metadata;
    return new ValidatedEvent(
      id,
      event as unknown as z.output<typeof domainEventInputSchema>,
      event.eventData,
      metadata,
      event.#bytes,
      false,
    );
  }
}

/**
 * For a handler's idempotent publish: an event whose id `createDomainEvent` (or a definition's
 * `create`) generated, rather than one the caller gave, takes the derived id instead.
 */
export function withDerivedId<E extends DomainEvent | DomainEventInput>(event: E, id: () => string): E {
  if (event.id === undefined) return { ...event, id: id() };
  if (ValidatedEvent.hasGeneratedId(event)) {
    return ValidatedEvent.withId(event as unknown as ValidatedEvent, id()) as unknown as E;
  }
  return event;
}

/**
 * Validates and freezes a domain event. Throws `EventValidationError` listing every bad field;
 * nothing is written anywhere before this passes.
 */
export function createDomainEvent<TType extends string = string, TData extends object = EventData>(
  input: DomainEventInput<TType, TData>,
  options: CreateEventOptions = {},
): DomainEvent<TType, TData> {
  const maxBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const issues: ValidationIssue[] = [];
  if (!isPlainObject(input)) {
    throw new EventValidationError([{ path: '', message: 'an event must be a plain object' }]);
  }
  // The common, valid case skips zod (~0.6 µs an event); anything unusual goes through zod,
  // which stays the single source of the error messages.
  const parsed = isPlainEnvelope(input)
    ? { success: true as const, data: input as z.output<typeof domainEventInputSchema> }
    : domainEventInputSchema.safeParse(input);
  if (!parsed.success) {
    issues.push(
      ...toIssues(parsed.error, (path) => path === 'eventData' || path.startsWith('eventData.'), input),
    );
  }
  const data = freezeJsonObject(input.eventData ?? {}, 'eventData', maxBytes, issues);
  const metadata = buildMetadata(input.metadata, issues);
  if (typeof input.aggregateId === 'string') checkString(input.aggregateId, 'aggregateId', issues);
  if (issues.length > 0 || !parsed.success || !data || !metadata) throw new EventValidationError(issues);

  const value = parsed.data;
  const id = value.id?.toLowerCase() ?? newEventId();
  if (metadata.correlationId === undefined) metadata.correlationId = id;
  return new ValidatedEvent(
    id,
    value,
    data.value,
    Object.freeze(metadata) as EventMetadata,
    data.bytes,
    value.id === undefined,
  ) as unknown as DomainEvent<TType, TData>;
}

const ENVELOPE_KEYS = new Set(Object.keys(domainEventInputSchema.shape));
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/;

const isIdString = (v: unknown): boolean =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;

/**
 * A conservative subset of `domainEventInputSchema`: true only for inputs zod would accept
 * (property-tested against it). `occurredAt` strings and anything odd fall through to zod.
 */
function isPlainEnvelope(input: Record<string, unknown>): boolean {
  for (const key in input) if (!ENVELOPE_KEYS.has(key)) return false;
  const { id, aggregateVersion, metadata, occurredAt } = input;
  if (!isName(input.eventType) || !isIdString(input.aggregateId)) return false;
  if (id !== undefined && !(typeof id === 'string' && UUID.test(id))) return false;
  if (input.aggregateType !== undefined && !isName(input.aggregateType)) return false;
  if (
    aggregateVersion !== undefined &&
    !(Number.isSafeInteger(aggregateVersion) && (aggregateVersion as number) >= 0)
  ) {
    return false;
  }
  // isStorableDate is false for an invalid Date (NaN compares false).
  if (occurredAt !== undefined && !(occurredAt instanceof Date && isStorableDate(occurredAt))) return false;
  return metadata === undefined || isPlainMetadata(metadata);
}

type KnownMetadata = Readonly<Record<string, unknown>> | undefined;

/**
 * `value` is what already-validated metadata (`known`, or `alsoKnown`) holds under `key`: valid
 * as it is. Only strings and numbers count (what `Object.prototype` lends, such as
 * `constructor`, never does).
 */
function isKnown(known: KnownMetadata, alsoKnown: KnownMetadata, key: string, value: unknown): boolean {
  if (typeof value !== 'string' && typeof value !== 'number') return false;
  return (
    (known !== undefined && known[key] === value) || (alsoKnown !== undefined && alsoKnown[key] === value)
  );
}

/**
 * True only for metadata the zod schema would accept (the envelope fast path, and `withMetadata`).
 * A value identical to the one under the same key in `known` or `alsoKnown` (metadata already
 * validated) is not checked again: each key's rule is independent of the others.
 */
function isPlainMetadata(metadata: unknown, known?: KnownMetadata, alsoKnown?: KnownMetadata): boolean {
  if (!isPlainObject(metadata)) return false;
  for (const key in metadata) {
    const v = metadata[key];
    if (v === undefined || isKnown(known, alsoKnown, key, v)) continue;
    if (key === 'schemaVersion') {
      if (!(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 1_000_000)) return false;
    } else if (key === 'correlationId' || key === 'causationId') {
      if (!isIdString(v)) return false;
    } else if (key === 'traceparent') {
      if (!(typeof v === 'string' && TRACEPARENT.test(v))) return false;
    } else if (!((typeof v === 'string' && v.length <= 2000) || Number.isFinite(v))) {
      return false;
    }
  }
  return true;
}

/**
 * The event with other metadata. For an event `createDomainEvent` made, only the metadata is
 * validated again: the payload is already frozen and measured (handler publishes and
 * instrumentation add metadata to every event; walking the payload again would double the
 * cost of validation). Anything else is validated from scratch.
 */
export function withMetadata(
  event: DomainEvent | DomainEventInput,
  metadata: Record<string, string | number | undefined>,
  options: CreateEventOptions = {},
): DomainEvent {
  return withCheckedMetadata(event, metadata, options, undefined);
}

/**
 * `withMetadata`, where a value identical to the one under the same key in `validated` (another
 * event's metadata, already validated) is not checked again either: every event of a batch
 * publish gets the same trace context from instrumentation, checked on the first event only.
 */
export function withCheckedMetadata(
  event: DomainEvent | DomainEventInput,
  metadata: Record<string, string | number | undefined>,
  options: CreateEventOptions,
  validated: Readonly<Record<string, unknown>> | undefined,
): DomainEvent {
  const bytes = ValidatedEvent.payloadBytes(event);
  if (bytes === undefined || bytes > (options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES)) {
    return createDomainEvent({ ...(event as DomainEventInput), metadata }, options);
  }
  const issues: ValidationIssue[] = [];
  // The event's own metadata is valid already: only what was added or changed is checked.
  const known = (event as DomainEvent).metadata as Readonly<Record<string, unknown>>;
  if (!isPlainMetadata(metadata, known, validated)) {
    const parsed = eventMetadataSchema.safeParse(metadata);
    if (!parsed.success) {
      for (const issue of toIssues(parsed.error)) {
        issues.push({ path: issue.path ? `metadata.${issue.path}` : 'metadata', message: issue.message });
      }
    }
  }
  const built = buildMetadata(metadata, issues, known, validated);
  if (issues.length > 0 || !built) throw new EventValidationError(issues);
  const e = event as DomainEvent;
  if (built.correlationId === undefined) built.correlationId = e.id;
  return new ValidatedEvent(
    e.id,
    e as unknown as z.output<typeof domainEventInputSchema>,
    e.eventData as JsonObject,
    Object.freeze(built) as EventMetadata,
    bytes,
    ValidatedEvent.hasGeneratedId(e),
  ) as unknown as DomainEvent;
}

/**
 * Builds the frozen `RecordedEvent` a store returns: the event's fields in one fixed order plus
 * its position and record time. Stores should use it rather than spreading, so every recorded
 * event has the same hidden class (spreads of differently built objects fall off V8's fast
 * paths: measured 10× slower on the append path).
 */
export function recordEvent(
  event: DomainEvent,
  position: Position | bigint | number,
  recordedAt: Date,
): RecordedEvent {
  const r: { -readonly [K in keyof RecordedEvent]: RecordedEvent[K] } = {
    id: event.id,
    eventType: event.eventType,
    aggregateId: event.aggregateId,
    eventData: event.eventData,
    metadata: event.metadata,
    occurredAt: event.occurredAt,
    position: typeof position === 'string' ? position : formatPosition(position),
    recordedAt,
  };
  if (event.aggregateType !== undefined) r.aggregateType = event.aggregateType;
  if (event.aggregateVersion !== undefined) r.aggregateVersion = event.aggregateVersion;
  return Object.freeze(r);
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
  event: DomainEvent | AnyEventInput,
  options: CreateEventOptions = {},
): DomainEvent {
  const bytes = ValidatedEvent.payloadBytes(event);
  if (bytes !== undefined && bytes <= (options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES)) {
    return event as DomainEvent;
  }
  return createDomainEvent(event as DomainEventInput, options);
}

/**
 * What the publish calls accept as an input: `eventData` any object, checked at run time (plain
 * JSON only). `DomainEventInput`'s default `Record<string, unknown>` refuses a value typed by an
 * interface (`eventData: order` where `order: OrderData`): TypeScript gives interfaces no
 * implicit index signature.
 */
export type AnyEventInput = DomainEventInput<string, object>;

function buildMetadata(
  input: unknown,
  issues: ValidationIssue[],
  known?: KnownMetadata,
  alsoKnown?: KnownMetadata,
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
    const value = input[key];
    if (isKnown(known, alsoKnown, key, value)) {
      out[key] = value as string | number;
      continue;
    }
    const path = `metadata.${key}`;
    if (FORBIDDEN_KEYS.has(key)) {
      issues.push({ path, message: `the key "${key}" is not allowed` });
      continue;
    }
    if (!NAME_PATTERN.test(key) || key.length > 100) {
      issues.push({ path, message: 'metadata keys may only contain letters, digits and _ . : - (max 100)' });
      continue;
    }
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
            readonly message: string;
            // `| undefined` as in the spec: without it, an application compiled with
            // exactOptionalPropertyTypes could not pass a zod 4 schema to defineEvent.
            readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
          }>;
        }
      | Promise<unknown>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];
/** What a schema accepts: differs from its output where it has defaults, coercions or transforms. */
export type InferInput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['input'];

export interface TypedEventInput<TData> {
  aggregateId: string;
  data: TData;
  id?: string | undefined;
  aggregateType?: string | undefined;
  aggregateVersion?: number | undefined;
  metadata?: (Partial<EventMetadata> & Record<string, string | number | undefined>) | undefined;
  occurredAt?: Date | string | undefined;
}

/** The stored, typed event a definition describes: what a handler registered with it receives. */
export type EventOf<D> =
  D extends EventDefinition<infer T, infer Data, infer _Input> ? RecordedEvent<T, Data> : never;

/**
 * `TData` is what handlers receive (the schema's output, defaults and coercions applied);
 * `TInput` is what `create` accepts (the schema's input: fields with a default may be left out).
 */
export interface EventDefinition<TType extends string, TData extends object, TInput = TData> {
  readonly eventType: TType;
  readonly schemaVersion: number;
  readonly aggregateType: string | undefined;
  readonly schema: StandardSchemaV1<unknown, TData>;
  /**
   * Validates `data` against the schema and the envelope, returns a frozen typed event. The data
   * is stored as JSON (a `Date` becomes its ISO string) and handlers validate what was stored, so
   * a schema that rejects the stored form (`z.date()`) is refused here rather than dead-lettered
   * at every delivery: use `z.coerce.date()` or `z.iso.datetime()`.
   */
  create(input: TypedEventInput<TInput>, options?: CreateEventOptions): DomainEvent<TType, TData>;
  /** Type guard on the event type only (cheap). */
  is<E extends DomainEvent<string, object>>(event: E): event is E & DomainEvent<TType, TData>;
  /**
   * Checks type and validates `eventData` against the schema; throws `EventValidationError`.
   * Returns the event with the schema's output as `eventData` (defaults filled in, coercions and
   * transforms applied, unknown keys of a `z.object` stripped): what a typed handler receives.
   */
  parse<E extends DomainEvent<string, object>>(event: E): Omit<E, 'eventData'> & DomainEvent<TType, TData>;
}

/**
 * A typed event contract: `defineEvent('UserRegistered', z.strictObject({...}))`.
 * Handlers registered with a definition get typed, schema-checked events.
 */
export function defineEvent<TType extends string, S extends StandardSchemaV1<unknown, object>>(
  eventType: TType,
  schema: S,
  options: { schemaVersion?: number | undefined; aggregateType?: string | undefined } = {},
): EventDefinition<TType, InferOutput<S>, InferInput<S>> {
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

  const checkData = (
    data: unknown,
  ): { value: TData; issues?: undefined } | { issues: ValidationIssue[]; value?: undefined } => {
    const result = schema['~standard'].validate(data);
    if (result instanceof Promise) {
      throw new EventValidationError([{ path: 'eventData', message: 'async schemas are not supported' }]);
    }
    const r = result as {
      value?: TData | undefined;
      issues?: ReadonlyArray<{ message: string; path?: ReadonlyArray<unknown> | undefined }> | undefined;
    };
    if (!r.issues) return { value: r.value as TData };
    return {
      issues: r.issues.map((i) => ({
        path: [
          'eventData',
          ...(i.path ?? []).map((p) => String(typeof p === 'object' && p ? (p as { key: unknown }).key : p)),
        ].join('.'),
        message: isMissingAt(data, i.path ?? []) ? 'is required' : i.message,
      })),
    };
  };
  const validateData = (data: unknown): TData => {
    const checked = checkData(data);
    if (checked.issues) throw new EventValidationError(checked.issues, { subject: `${eventType} event` });
    return checked.value;
  };

  return Object.freeze({
    eventType,
    schemaVersion,
    aggregateType: options.aggregateType,
    schema: schema as unknown as StandardSchemaV1<unknown, TData>,
    create(input: TypedEventInput<InferInput<S>>, createOptions?: CreateEventOptions) {
      const data = validateData(input.data);
      const event = createDomainEvent(
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
      // Handlers validate the stored JSON, where a Date is its ISO string: a schema that accepts
      // only the Date would dead-letter the event at every delivery.
      if (containsDate(data)) {
        const stored = checkData(event.eventData);
        if (stored.issues) {
          throw new EventValidationError(
            stored.issues.map((i) => ({
              path: i.path,
              message: `${i.message} once stored (a Date is stored as its ISO string: use z.coerce.date() or z.iso.datetime())`,
            })),
            { subject: `${eventType} event` },
          );
        }
      }
      return event;
    },
    is<E extends DomainEvent<string, object>>(event: E): event is E & DomainEvent<TType, TData> {
      return event.eventType === eventType;
    },
    parse<E extends DomainEvent<string, object>>(event: E): Omit<E, 'eventData'> & DomainEvent<TType, TData> {
      if (event.eventType !== eventType) {
        throw new EventValidationError([
          { path: 'eventType', message: `expected "${eventType}", got "${event.eventType}"` },
        ]);
      }
      const data = validateData(event.eventData);
      return Object.freeze({ ...event, eventData: deepFreezeJson(data) }) as unknown as Omit<E, 'eventData'> &
        DomainEvent<TType, TData>;
    },
  });
}

function containsDate(value: unknown, depth = 0): boolean {
  if (value instanceof Date) return true;
  if (typeof value !== 'object' || value === null || depth > 64) return false;
  for (const child of Object.values(value)) if (containsDate(child, depth + 1)) return true;
  return false;
}
