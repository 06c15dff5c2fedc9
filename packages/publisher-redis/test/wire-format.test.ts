import { type AnnouncedEvent, isEvcoError } from '@evco/core';
import { describe, expect, it } from 'vitest';
import { decodeAnnouncement, encodeAnnouncement, MAX_FIELD_LENGTH, WIRE_VERSION } from '../src/index.js';

function events(n: number, from = 1): AnnouncedEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `0190a0b0-0000-7000-8000-${(from + i).toString(16).padStart(12, '0')}`,
    eventType: 'UserRegistered',
    aggregateId: `user-${from + i}`,
    position: String(from + i),
  }));
}

const decodeAll = (chunks: string[]) =>
  chunks.flatMap((c) => {
    const r = decodeAnnouncement(c, 1 << 20);
    if (!r.ok) throw new Error(r.reason);
    return r.announcement.events;
  });

const reasonOf = (raw: string, max = 1 << 20) => {
  const r = decodeAnnouncement(raw, max);
  return r.ok ? 'ok' : r.reason;
};

describe('encodeAnnouncement', () => {
  it('writes the documented v1 JSON, positions as decimal strings', () => {
    const [message, ...rest] = encodeAnnouncement(
      {
        source: 'node-a',
        events: [
          { id: 'e-1', eventType: 'UserRegistered', aggregateId: 'u-1', position: '9007199254740993' },
        ],
      },
      65_536,
    );
    expect(rest).toEqual([]);
    expect(JSON.parse(message!)).toEqual({
      v: WIRE_VERSION,
      source: 'node-a',
      events: [{ id: 'e-1', eventType: 'UserRegistered', aggregateId: 'u-1', position: '9007199254740993' }],
    });
  });

  it('splits a large announcement into chunks under the limit, preserving order', () => {
    const all = events(10_000);
    const chunks = encodeAnnouncement({ source: 'node-a', events: all }, 8192);
    expect(chunks.length).toBeGreaterThan(100);
    for (const c of chunks) expect(Buffer.byteLength(c)).toBeLessThanOrEqual(8192);
    expect(decodeAll(chunks)).toEqual(all);
    // Chunks are reasonably full: not many more than the bytes strictly need.
    const bytes = chunks.reduce((sum, c) => sum + Buffer.byteLength(c), 0);
    expect(chunks.length).toBeLessThanOrEqual(Math.ceil((bytes / 8192) * 1.3));
  });

  it('rejects an event that cannot fit in one message at all', () => {
    const error = (() => {
      try {
        encodeAnnouncement({ source: 'node-a', events: events(3) }, 120);
      } catch (e) {
        return e;
      }
    })();
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect((error as Error).message).toMatch(
      /events\[0\]: needs \d+ bytes on the wire, above maxMessageBytes \(120\)/,
    );
  });

  it('counts multi-byte characters in bytes, not UTF-16 units', () => {
    const wide = events(200).map((e, i) => ({ ...e, aggregateId: `ünïcødé-${'€'.repeat(60)}-${i}` }));
    const chunks = encodeAnnouncement({ source: 'node-ü', events: wide }, 8192);
    for (const c of chunks) expect(Buffer.byteLength(c)).toBeLessThanOrEqual(8192);
    expect(decodeAll(chunks)).toEqual(wide);
  });

  it('escapes quotes and control characters so the JSON stays valid', () => {
    const odd = [{ ...events(1)[0]!, aggregateId: 'a"b\\c\n\u0001' }];
    expect(decodeAll(encodeAnnouncement({ source: 's"q', events: odd }, 65_536))).toEqual(odd);
  });

  it('sends nothing for an empty announcement', () => {
    expect(encodeAnnouncement({ source: 'node-a', events: [] }, 65_536)).toEqual([]);
  });

  it('rejects fields a v1 consumer would drop, listing each one', () => {
    const error = (() => {
      try {
        encodeAnnouncement(
          {
            source: '',
            events: [
              { id: '', eventType: 'bad type', aggregateId: 'x'.repeat(201), position: '-1' },
              { id: 'ok', eventType: 'Ok', aggregateId: 'a', position: 1 as unknown as string },
            ],
          },
          65_536,
        );
      } catch (e) {
        return e;
      }
    })();
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/^\[evco:publisher-redis\]/);
    for (const path of [
      'source',
      'events[0].id',
      'events[0].eventType',
      'events[0].aggregateId',
      'events[0].position',
      'events[1].position',
    ]) {
      expect(message).toContain(path);
    }
  });
});

describe('decodeAnnouncement', () => {
  const valid = {
    v: 1,
    source: 'node-a',
    events: [{ id: 'e', eventType: 'T', aggregateId: 'a', position: '7' }],
  };
  const withEvent = (patch: Record<string, unknown>) =>
    JSON.stringify({ ...valid, events: [{ ...valid.events[0], ...patch }] });

  it('accepts a message written by hand in another language', () => {
    const r = decodeAnnouncement(
      '{"v":1,"source":"py-worker","events":[{"id":"x","eventType":"A.B","aggregateId":"1","position":"18446744"}]}',
      65_536,
    );
    expect(r).toEqual({
      ok: true,
      announcement: {
        source: 'py-worker',
        events: [{ id: 'x', eventType: 'A.B', aggregateId: '1', position: '18446744' }],
      },
    });
  });

  it('accepts a Buffer', () => {
    expect(decodeAnnouncement(Buffer.from(JSON.stringify(valid)), 65_536).ok).toBe(true);
  });

  it.each([
    ['not JSON', '{"v":1,', 'not valid JSON'],
    ['an array', '[1,2]', 'not a JSON object'],
    ['a string', '"hello"', 'not a JSON object'],
    ['null', 'null', 'not a JSON object'],
    ['no version', JSON.stringify({ source: 's', events: valid.events }), 'missing field "v"'],
    ['a future version', JSON.stringify({ ...valid, v: 2 }), 'unsupported wire version 2'],
    ['a string version', JSON.stringify({ ...valid, v: '1' }), 'missing or invalid version "v"'],
    ['an unknown field', JSON.stringify({ ...valid, extra: 1 }), 'unknown field "extra"'],
    [
      'a top-level __proto__ key',
      '{"__proto__":{"polluted":1},"v":1,"source":"s","events":[]}',
      'forbidden key "__proto__"',
    ],
    ['a constructor key', JSON.stringify({ ...valid, constructor: {} }), 'forbidden key "constructor"'],
    [
      'an event __proto__ key',
      withEvent({}).replace('{"id"', '{"__proto__":{},"id"'),
      'forbidden key "__proto__" in events[0]',
    ],
    ['an empty source', JSON.stringify({ ...valid, source: '' }), 'source must be'],
    ['a numeric source', JSON.stringify({ ...valid, source: 5 }), 'source must be'],
    ['no events', JSON.stringify({ ...valid, events: [] }), 'events must be a non-empty array'],
    ['events not an array', JSON.stringify({ ...valid, events: {} }), 'events must be a non-empty array'],
    [
      'an event that is not an object',
      JSON.stringify({ ...valid, events: [1] }),
      'events[0] is not an object',
    ],
    ['a numeric position', withEvent({ position: 7 }), 'events[0].position'],
    ['a negative position', withEvent({ position: '-7' }), 'events[0].position'],
    ['a position with leading zeros', withEvent({ position: '007' }), 'events[0].position'],
    ['a position above 2^63-1', withEvent({ position: '9223372036854775808' }), 'events[0].position'],
    ['a bad event type', withEvent({ eventType: 'no spaces' }), 'events[0].eventType'],
    ['an overlong id', withEvent({ id: 'x'.repeat(MAX_FIELD_LENGTH + 1) }), 'events[0].id'],
    [
      'a missing aggregateId',
      withEvent({ aggregateId: undefined }),
      'missing field "aggregateId" in events[0]',
    ],
  ])('rejects %s', (_what, raw, reason) => {
    expect(reasonOf(raw)).toContain(reason);
  });

  it('rejects an oversized message before parsing it', () => {
    const big = JSON.stringify({
      ...valid,
      source: 's',
      events: Array.from({ length: 500 }, () => valid.events[0]),
    });
    expect(reasonOf(big, 8192)).toBe('message exceeds 8192 bytes');
    // Multi-byte characters count in bytes.
    const wide = JSON.stringify({ ...valid, source: '€'.repeat(150) });
    expect(Buffer.byteLength(wide)).toBeGreaterThan(wide.length);
    expect(reasonOf(wide, wide.length + 10)).toBe(`message exceeds ${wide.length + 10} bytes`);
  });

  it('never pollutes Object.prototype, whatever arrives', () => {
    decodeAnnouncement('{"__proto__":{"polluted":true},"v":1,"source":"s","events":[]}', 65_536);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('never throws on random input', () => {
    const alphabet = '{}[]":,0123456789abcv-_\\ \u0000é';
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const s = Array.from(
        { length: Math.floor(rnd() * 60) },
        () => alphabet[Math.floor(rnd() * alphabet.length)],
      ).join('');
      if (!decodeAnnouncement(s, 65_536).ok) rejected++;
    }
    expect(rejected).toBe(2000);
  });
});
