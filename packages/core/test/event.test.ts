import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  createDomainEvent,
  DEFAULT_MAX_PAYLOAD_BYTES,
  defineEvent,
  domainEventInputSchema,
  type EventValidationError,
  GenericDomainEvent,
  isEvcoError,
  withMetadata,
} from '../src/index.js';

function issuesOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (error) {
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect((error as Error).message).toMatch(/^\[evco:core\] invalid event/);
    return [...(error as EventValidationError).issues];
  }
  throw new Error('expected an EventValidationError');
}

const paths = (fn: () => unknown) => issuesOf(fn).map((i) => i.path);
const valid = { eventType: 'UserRegistered', aggregateId: 'user-1' };

describe('createDomainEvent', () => {
  it('fills defaults: a UUIDv7 id, schemaVersion 1, correlationId = own id, occurredAt now, empty data', () => {
    const before = Date.now();
    const e = createDomainEvent(valid);
    expect(e.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(e.metadata).toEqual({ schemaVersion: 1, correlationId: e.id });
    expect(e.eventData).toEqual({});
    expect(e.occurredAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(e.occurredAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect('aggregateType' in e).toBe(false);
  });

  it('generates ids in increasing order', () => {
    const ids = Array.from({ length: 1000 }, () => createDomainEvent(valid).id);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
  });

  it('keeps given fields, lowercases the id and parses ISO dates with a timezone to UTC', () => {
    const e = createDomainEvent({
      ...valid,
      id: '0190A0B0-1234-7ABC-8DEF-0123456789AB',
      aggregateType: 'User',
      aggregateVersion: 0,
      eventData: { email: 'a@b.c' },
      metadata: { correlationId: 'c', causationId: 'd', tenant: 't', schemaVersion: 2 },
      occurredAt: '2026-05-01T10:00:00+02:00',
    });
    expect(e.id).toBe('0190a0b0-1234-7abc-8def-0123456789ab');
    expect(e.aggregateType).toBe('User');
    expect(e.aggregateVersion).toBe(0);
    expect(e.occurredAt.toISOString()).toBe('2026-05-01T08:00:00.000Z');
    expect(e.metadata).toEqual({ correlationId: 'c', causationId: 'd', tenant: 't', schemaVersion: 2 });
  });

  it('accepts the first and the last storable instants (years 1 and 9999, UTC)', () => {
    const first = createDomainEvent({ ...valid, occurredAt: new Date('0001-01-01T00:00:00.000Z') });
    const last = createDomainEvent({ ...valid, occurredAt: '9999-12-31T23:59:59.999Z' });
    expect(first.occurredAt.toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(last.occurredAt.toISOString()).toBe('9999-12-31T23:59:59.999Z');
  });

  it('freezes the event, its metadata and its data at every depth, without freezing the caller’s object', () => {
    const data = { profile: { tags: ['a'] } };
    const e = createDomainEvent({ ...valid, eventData: data });
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(e.metadata)).toBe(true);
    expect(Object.isFrozen(e.eventData)).toBe(true);
    expect(Object.isFrozen((e.eventData as typeof data).profile.tags)).toBe(true);
    expect(Object.isFrozen(data)).toBe(false);
    data.profile.tags.push('b');
    expect((e.eventData as typeof data).profile.tags).toEqual(['a']);
    expect(() => {
      (e as { eventType: string }).eventType = 'Other';
    }).toThrow(TypeError);
  });

  it('turns Dates in data into ISO strings and drops undefined members, as JSON would', () => {
    const e = createDomainEvent({
      ...valid,
      eventData: { at: new Date('2026-01-02T03:04:05.006Z'), gone: undefined, kept: null },
    });
    expect(e.eventData).toEqual({ at: '2026-01-02T03:04:05.006Z', kept: null });
  });

  it.each([
    ['an empty eventType', { eventType: '' }, 'eventType'],
    ['an eventType over 200 characters', { eventType: 'A'.repeat(201) }, 'eventType'],
    ['an eventType with spaces or quotes', { eventType: "User Registered'" }, 'eventType'],
    ['a missing aggregateId', { aggregateId: undefined }, 'aggregateId'],
    ['an empty aggregateId', { aggregateId: '' }, 'aggregateId'],
    ['an aggregateId with a NUL', { aggregateId: 'a\u0000b' }, 'aggregateId'],
    ['a non-UUID id', { id: 'not-a-uuid' }, 'id'],
    ['a negative aggregateVersion', { aggregateVersion: -1 }, 'aggregateVersion'],
    ['a fractional aggregateVersion', { aggregateVersion: 1.5 }, 'aggregateVersion'],
    ['an invalid Date', { occurredAt: new Date('nope') }, 'occurredAt'],
    ['an ISO string without a timezone', { occurredAt: '2026-05-01T10:00:00' }, 'occurredAt'],
    ['a date-only string', { occurredAt: '2026-05-01' }, 'occurredAt'],
    ['a Date after year 9999', { occurredAt: new Date('+010000-01-01T00:00:00Z') }, 'occurredAt'],
    ['a Date before year 1', { occurredAt: new Date('0000-12-31T23:59:59.999Z') }, 'occurredAt'],
    ['a Date far in the past', { occurredAt: new Date(-8.64e15) }, 'occurredAt'],
    ['an ISO string in year 0', { occurredAt: '0000-06-01T00:00:00Z' }, 'occurredAt'],
    [
      'an ISO string whose offset moves it past 9999',
      { occurredAt: '9999-12-31T23:30:00-01:00' },
      'occurredAt',
    ],
    [
      'an ISO string whose offset moves it before year 1',
      { occurredAt: '0001-01-01T00:30:00+01:00' },
      'occurredAt',
    ],
    ['an unknown envelope field', { timestamp: 'x' }, 'timestamp'],
    ['a non-object eventData', { eventData: [1, 2] }, 'eventData'],
    ['metadata with a non-string value', { metadata: { tenant: { nested: true } } }, 'metadata.tenant'],
    ['a bad traceparent', { metadata: { traceparent: 'x' } }, 'metadata.traceparent'],
    ['schemaVersion 0', { metadata: { schemaVersion: 0 } }, 'metadata.schemaVersion'],
  ])('rejects %s', (_name, patch, path) => {
    expect(paths(() => createDomainEvent({ ...valid, ...patch } as never))).toContain(path);
  });

  it.each([
    ['BigInt', { n: 10n }, 'eventData.n', /BigInt/],
    ['a function', { f: () => 1 }, 'eventData.f', /function/],
    ['a symbol', { s: Symbol('x') }, 'eventData.s', /symbol/],
    ['NaN', { n: Number.NaN }, 'eventData.n', /NaN/],
    ['Infinity', { n: Number.POSITIVE_INFINITY }, 'eventData.n', /Infinity/],
    ['undefined in an array', { list: [1, undefined] }, 'eventData.list[1]', /undefined/],
    ['a Map', { m: new Map() }, 'eventData.m', /Map/],
    ['a class instance', { u: new URL('http://x') }, 'eventData.u', /URL/],
    ['a lone surrogate', { s: '\ud800' }, 'eventData.s', /surrogate/],
    ['a NUL character', { s: 'a\u0000' }, 'eventData.s', /NUL/],
  ])('rejects %s in eventData', (_name, eventData, path, message) => {
    const issues = issuesOf(() => createDomainEvent({ ...valid, eventData }));
    expect(issues.find((i) => i.path === path)?.message).toMatch(message);
  });

  it('rejects cycles but accepts the same object twice', () => {
    const shared = { x: 1 };
    expect(createDomainEvent({ ...valid, eventData: { a: shared, b: shared } }).eventData).toEqual({
      a: { x: 1 },
      b: { x: 1 },
    });
    const cyclic: Record<string, unknown> = { a: { b: {} } };
    (cyclic.a as { b: Record<string, unknown> }).b.back = cyclic;
    expect(issuesOf(() => createDomainEvent({ ...valid, eventData: cyclic }))).toEqual([
      { path: 'eventData.a.b.back', message: 'circular reference' },
    ]);
  });

  it('rejects __proto__, constructor and prototype keys at any depth, data and metadata alike', () => {
    const data = JSON.parse(
      '{"ok":{"deeper":[{"__proto__":{"polluted":true}}]},"constructor":1,"x":{"prototype":2}}',
    );
    expect(paths(() => createDomainEvent({ ...valid, eventData: data }))).toEqual([
      'eventData.ok.deeper[0].__proto__',
      'eventData.constructor',
      'eventData.x.prototype',
    ]);
    const metadata = JSON.parse('{"__proto__":"x"}');
    expect(paths(() => createDomainEvent({ ...valid, metadata }))).toContain('metadata.__proto__');
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('rejects payloads over the size limit (default 256 KiB, configurable), counting UTF-8 bytes', () => {
    const justUnder = { s: 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES - 10) };
    expect(() => createDomainEvent({ ...valid, eventData: justUnder })).not.toThrow();
    const over = { s: 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES) };
    expect(issuesOf(() => createDomainEvent({ ...valid, eventData: over }))[0]!.message).toMatch(
      /exceeds the limit/,
    );
    const multibyte = { s: 'é'.repeat(600) }; // 1200 bytes serialized
    expect(() =>
      createDomainEvent({ ...valid, eventData: multibyte }, { maxPayloadBytes: 1300 }),
    ).not.toThrow();
    expect(
      paths(() => createDomainEvent({ ...valid, eventData: multibyte }, { maxPayloadBytes: 1100 })),
    ).toEqual(['eventData']);
  });

  it('rejects nesting deeper than 64 levels without overflowing the stack', () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 10_000; i++) {
      const next = {};
      deep.d = next;
      deep = next;
    }
    expect(issuesOf(() => createDomainEvent({ ...valid, eventData: root }))[0]!.message).toMatch(
      /deeper than 64/,
    );
  });

  it('lists every bad field at once', () => {
    const issues = paths(() =>
      createDomainEvent({
        eventType: 'bad type',
        aggregateId: '',
        occurredAt: '2026-01-01T00:00:00',
        eventData: { n: 1n, __proto__x: 1, f: () => 0 },
      } as never),
    );
    expect(issues).toEqual(
      expect.arrayContaining(['eventType', 'aggregateId', 'occurredAt', 'eventData.n', 'eventData.f']),
    );
  });

  it('rejects non-objects outright', () => {
    expect(paths(() => createDomainEvent(null as never))).toEqual(['']);
    expect(paths(() => createDomainEvent('UserRegistered' as never))).toEqual(['']);
  });

  it('GenericDomainEvent works with and without new', () => {
    const a = new GenericDomainEvent(valid);
    const b = GenericDomainEvent(valid);
    expect(a.eventType).toBe('UserRegistered');
    expect(b.eventType).toBe('UserRegistered');
    expect(a.id).not.toBe(b.id);
  });
});

describe('defineEvent', () => {
  const UserRegistered = defineEvent(
    'UserRegistered',
    z.strictObject({ userId: z.uuid(), email: z.email(), username: z.string().min(3) }),
    { schemaVersion: 2, aggregateType: 'User' },
  );
  const data = { userId: '0190a0b0-1234-7abc-8def-0123456789ab', email: 'ada@example.com', username: 'ada' };

  it('creates typed, validated events carrying the schema version and aggregate type', () => {
    const e = UserRegistered.create({ aggregateId: data.userId, data });
    expect(e.eventType).toBe('UserRegistered');
    expect(e.eventData.email).toBe('ada@example.com');
    expect(e.metadata.schemaVersion).toBe(2);
    expect(e.aggregateType).toBe('User');
    expect(UserRegistered.is(e)).toBe(true);
    expect(UserRegistered.is(createDomainEvent({ eventType: 'Other', aggregateId: 'x' }))).toBe(false);
  });

  it('reports every schema problem under eventData.*, and rejects unknown fields', () => {
    const error = (() => {
      try {
        UserRegistered.create({
          aggregateId: 'x',
          data: { ...data, email: 'nope', username: 'a', extra: 1 } as never,
        });
      } catch (e) {
        return e as EventValidationError;
      }
    })();
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect(error!.issues.map((i) => i.path).sort()).toEqual([
      'eventData',
      'eventData.email',
      'eventData.username',
    ]);
  });

  it('parse() validates a stored event against the schema', () => {
    const good = UserRegistered.create({ aggregateId: data.userId, data });
    expect(UserRegistered.parse(good)).toEqual(good);
    const bad = createDomainEvent({ eventType: 'UserRegistered', aggregateId: 'x', eventData: { email: 1 } });
    expect(() => UserRegistered.parse(bad)).toThrow(/eventData.email/);
    const other = createDomainEvent({ eventType: 'Other', aggregateId: 'x' });
    expect(() => UserRegistered.parse(other)).toThrow(/expected "UserRegistered"/);
  });

  it('create() takes the schema input: a field with a default may be left out', async () => {
    const OrderPlaced = defineEvent(
      'OrderPlaced',
      z.strictObject({ total: z.number(), currency: z.string().default('EUR') }),
    );
    // A type error before: create() demanded the schema's output, where currency is required.
    const e = OrderPlaced.create({ aggregateId: 'o1', data: { total: 5 } });
    expect(e.eventData).toEqual({ total: 5, currency: 'EUR' });
    expectTypeOf(e.eventData.currency).toEqualTypeOf<string>();
    // @ts-expect-error total is still required, and a number
    expect(() => OrderPlaced.create({ aggregateId: 'o1', data: { total: '5' } })).toThrow(/eventData.total/);
  });

  it('parse() returns the schema output: defaults, coercions and transforms applied, as typed', () => {
    const Shipped = defineEvent(
      'Shipped',
      z.object({
        at: z.coerce.date(),
        carrier: z.string().default('post'),
        weight: z.string().transform(Number),
      }),
    );
    // What a store hands a handler: JSON, without the defaulted field (published untyped).
    const stored = createDomainEvent({
      eventType: 'Shipped',
      aggregateId: 's1',
      eventData: { at: '2026-01-02T03:04:05.000Z', weight: '2.5', extra: true },
    });
    const parsed = Shipped.parse(stored);
    expect(parsed.eventData).toEqual({
      at: new Date('2026-01-02T03:04:05.000Z'),
      carrier: 'post',
      weight: 2.5,
    });
    expect(parsed.eventData.at).toBeInstanceOf(Date);
    expectTypeOf(parsed.eventData.weight).toEqualTypeOf<number>();
    expect(parsed.id).toBe(stored.id);
    expect(parsed.metadata).toBe(stored.metadata);
    expect(Object.isFrozen(parsed) && Object.isFrozen(parsed.eventData)).toBe(true);
  });

  it('create() refuses a schema that rejects its own data once stored as JSON (z.date())', () => {
    const Dated = defineEvent('Dated', z.object({ at: z.date() }));
    // Before: accepted here, then dead-lettered at every delivery ('expected date, received string').
    expect(() => Dated.create({ aggregateId: 'd', data: { at: new Date(0) } })).toThrow(
      /eventData\.at: .* once stored \(a Date is stored as its ISO string: use z\.coerce\.date\(\) or z\.iso\.datetime\(\)\)/,
    );
    const Coerced = defineEvent('Coerced', z.object({ at: z.coerce.date() }));
    const e = Coerced.create({ aggregateId: 'd', data: { at: new Date(0) } });
    expect(e.eventData.at).toBe('1970-01-01T00:00:00.000Z'); // stored form
    expect(Coerced.parse(e).eventData.at).toEqual(new Date(0)); // what the handler gets
  });

  it('refuses an invalid event type name at definition time', () => {
    expect(() => defineEvent('not valid!', z.object({}))).toThrow(/eventType/);
  });
});

describe('the fast envelope check never accepts what the zod schema rejects', () => {
  it('agrees with domainEventInputSchema on 5 000 random envelopes', () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(options: T[]): T => options[Math.floor(rand() * options.length)]!;
    const strings = ['', 'ok', 'UserRegistered', 'a b', 'x'.repeat(200), 'x'.repeat(201), 'ü', 'a:b.c-d_e'];
    const values = [
      undefined,
      null,
      0,
      -1,
      1.5,
      1,
      2 ** 53,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      true,
      {},
      [],
      ...strings,
    ];
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const input: Record<string, unknown> = {
        eventType: pick([...strings, ...values]),
        aggregateId: pick([...strings, ...values]),
      };
      if (rand() < 0.3)
        input.id = pick([
          '0190a0b0-1234-7abc-8def-0123456789ab',
          '0190A0B0-1234-7ABC-8DEF-0123456789AB',
          'nope',
          1,
          '00000000-0000-0000-0000-000000000000',
        ]);
      if (rand() < 0.3) input.aggregateType = pick([...strings, ...values]);
      if (rand() < 0.3) input.aggregateVersion = pick(values);
      if (rand() < 0.3)
        input.occurredAt = pick([
          new Date(),
          new Date('x'),
          new Date('+010000-01-01T00:00:00Z'),
          new Date('-000001-01-01T00:00:00Z'),
          '2026-01-01T00:00:00Z',
          '0000-01-01T00:00:00Z',
          '2026-01-01T00:00:00',
          5,
          null,
        ]);
      if (rand() < 0.4) {
        input.metadata = pick([
          {},
          { schemaVersion: pick(values) },
          { correlationId: pick(values) },
          { traceparent: pick(['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'bad']) },
          { custom: pick(values) },
          null,
          [],
        ]);
      }
      if (rand() < 0.1) input.extra = 1;
      const zodOk = domainEventInputSchema.safeParse(input).success;
      let created = true;
      try {
        createDomainEvent(input as never);
      } catch {
        created = false;
      }
      if (created) {
        accepted++;
        expect({ input, zodOk }).toEqual({ input, zodOk: true });
      }
    }
    expect(accepted).toBeGreaterThan(50);
  });
});

describe('withMetadata', () => {
  it('keeps the id, payload and time, replaces the metadata, and checks it like createDomainEvent', () => {
    const event = createDomainEvent({ eventType: 'A', aggregateId: 'a', eventData: { n: 1 } });
    const next = withMetadata(event, {
      tenantId: 't1',
      traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`,
    });
    expect(next).toEqual({
      ...event,
      metadata: {
        schemaVersion: 1,
        tenantId: 't1',
        traceparent: next.metadata.traceparent,
        correlationId: event.id,
      },
    });
    expect(next.eventData).toBe(event.eventData);
    expect(Object.isFrozen(next.metadata)).toBe(true);
    expect(issuesOf(() => withMetadata(event, { traceparent: 'nope', 'bad key': 'x' }))).toEqual(
      expect.arrayContaining([
        { path: 'metadata.traceparent', message: 'must be a W3C traceparent' },
        {
          path: 'metadata.bad key',
          message: 'metadata keys may only contain letters, digits and _ . : - (max 100)',
        },
      ]),
    );
    // A hand-built event is validated whole.
    expect(issuesOf(() => withMetadata({ eventType: 'A', aggregateId: '' }, {}))).toEqual([
      { path: 'aggregateId', message: 'must not be empty' },
    ]);
  });
  it('checks what is added or changed; the event’s own values stay valid, and nothing inherited passes as one', () => {
    const event = createDomainEvent({
      eventType: 'A',
      aggregateId: 'a',
      metadata: { tenant: 't1', traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` },
    });
    // Kept values pass; a changed value under a kept key is checked again.
    expect(withMetadata(event, { ...event.metadata, locale: 'fr' }).metadata).toEqual({
      ...event.metadata,
      locale: 'fr',
    });
    expect(paths(() => withMetadata(event, { ...event.metadata, traceparent: 'changed' }))).toEqual([
      'metadata.traceparent',
    ]);
    expect(paths(() => withMetadata(event, { ...event.metadata, tenant: 'nul\u0000' }))).toEqual([
      'metadata.tenant',
    ]);
    // `constructor` / `__proto__` match what Object.prototype lends the event's metadata: still rejected.
    const inherited = JSON.parse('{"__proto__":"x"}');
    expect(paths(() => withMetadata(event, { ...event.metadata, ...inherited }))).toContain(
      'metadata.__proto__',
    );
    expect(paths(() => withMetadata(event, { ...event.metadata, constructor: Object } as never))).toContain(
      'metadata.constructor',
    );
  });
});
