import type { DeliveryScope } from '@evco/core';
import {
  type Context,
  context as contextApi,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type TextMapPropagator,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { metadataGetter, metadataSetter, spanLogFields } from './carrier.js';

type Metadata = Readonly<Record<string, string | number | undefined>>;
export type Propagator = Pick<TextMapPropagator, 'inject' | 'extract'> &
  Partial<Pick<TextMapPropagator, 'fields'>>;

/**
 * The trace context an event carries (its `traceparent` / `tracestate`), extracted once and
 * kept with what the spans under it need. Immutable but for the lazily computed parts.
 */
export class ParentContext {
  /** `ROOT_CONTEXT` with the event's remote span, or `ROOT_CONTEXT` alone when it carries none. */
  readonly context: Context;
  /** The event's span, when it carries a valid one. */
  readonly spanContext: SpanContext | undefined;
  /**
   * A valid parent whose sampled flag is off. Nothing under it is recorded (what the SDK's
   * default `ParentBased` sampler decides anyway), so an attempt or a follow-up starts no span:
   * the handler runs in the parent's context and follow-ups carry its trace context unchanged.
   */
  readonly unsampled: boolean;
  /** How a process span under it starts: CONSUMER, linked to its creation context. */
  readonly processOptions: SpanOptions;
  readonly #propagator: Propagator;
  #carrier: Readonly<Record<string, string>> | undefined;
  #logBindings: Readonly<Record<string, string>> | undefined;
  #scope: DeliveryScope | undefined;

  constructor(context: Context, propagator: Propagator) {
    this.context = context;
    this.#propagator = propagator;
    const sc = trace.getSpanContext(context);
    this.spanContext = sc && trace.isSpanContextValid(sc) ? sc : undefined;
    this.unsampled =
      this.spanContext !== undefined && (this.spanContext.traceFlags & TraceFlags.SAMPLED) === 0;
    this.processOptions = Object.freeze({
      kind: SpanKind.CONSUMER,
      links: this.spanContext ? Object.freeze([Object.freeze({ context: this.spanContext })]) : undefined,
    }) as SpanOptions;
  }

  /** The parent's trace context as the propagator writes it: what an unsampled attempt's follow-ups carry. */
  get carrier(): Readonly<Record<string, string>> {
    if (!this.#carrier) {
      const carrier: Record<string, string> = {};
      this.#propagator.inject(this.context, carrier, metadataSetter);
      this.#carrier = Object.freeze(carrier);
    }
    return this.#carrier;
  }

  get logBindings(): Readonly<Record<string, string>> | undefined {
    if (!this.#logBindings && this.spanContext)
      this.#logBindings = Object.freeze(spanLogFields(this.spanContext));
    return this.#logBindings;
  }

  /** One scope for every metrics-free attempt under an unsampled parent: it holds no per-attempt state. */
  unsampledScope(): DeliveryScope {
    this.#scope ??= new UnsampledAttempt(this);
    return this.#scope;
  }
}

/** An attempt under an unsampled parent, when no metrics are kept: runs the handler in the parent's context. */
class UnsampledAttempt implements DeliveryScope {
  readonly #parent: ParentContext;

  constructor(parent: ParentContext) {
    this.#parent = parent;
  }

  get metadata() {
    return this.#parent.carrier;
  }

  get logBindings() {
    return this.#parent.logBindings;
  }

  run<T>(fn: () => T): T {
    return runIn(this.#parent.context, fn);
  }

  end(): void {}
}

/**
 * The parent context of each event, parsed from its metadata through the propagator, with the
 * last one remembered: every event of a batch carries the batch span's context, and every
 * handler of an event (and every retry) the same one, so most attempts parse nothing. Keyed on
 * the values of the propagator's `fields()`; a propagator without `fields()` parses every time.
 */
export class ParentContexts {
  readonly #propagator: Propagator;
  #fields: readonly string[] = [];
  #values: Array<string | undefined> = [];
  #last: ParentContext | undefined;

  constructor(propagator: Propagator) {
    this.#propagator = propagator;
  }

  of(metadata: Metadata): ParentContext {
    const fields = this.#propagator.fields?.();
    if (fields && this.#last && this.#matches(fields, metadata)) return this.#last;
    const parent = new ParentContext(
      this.#propagator.extract(ROOT_CONTEXT, metadata, metadataGetter),
      this.#propagator,
    );
    if (fields) {
      this.#fields = fields;
      this.#values = fields.map((f) => stringOf(metadata[f]));
      this.#last = parent;
    }
    return parent;
  }

  #matches(fields: readonly string[], metadata: Metadata): boolean {
    const known = this.#fields;
    if (fields.length !== known.length) return false;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      if (field !== known[i] || stringOf(metadata[field]) !== this.#values[i]) return false;
    }
    return true;
  }
}

const stringOf = (value: string | number | undefined) => (typeof value === 'string' ? value : undefined);

/** Runs `fn` with `active` as the active context (the SDK's async context manager carries it through awaits). */
export function runIn<T>(active: Context, fn: () => T): T {
  return contextApi.with(active, fn);
}
