import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/migrations.js';
import * as SQL from '../src/sql.js';

const statements = Object.entries(SQL).filter(
  (entry): entry is [string, string] => typeof entry[1] === 'string',
);

function shapes(): SQL.ReadShape[] {
  const out: SQL.ReadShape[] = [];
  for (let bits = 0; bits < 1024; bits++) {
    for (const eventTypes of ['none', 'one', 'many'] as const) {
      out.push({
        eventTypes,
        aggregateId: (bits & 1) > 0,
        aggregateType: (bits & 2) > 0,
        from: (bits & 4) > 0,
        to: (bits & 8) > 0,
        afterPosition: (bits & 16) > 0,
        beforePosition: (bits & 32) > 0,
        desc: (bits & 64) > 0,
        correlationId: (bits & 128) > 0,
        causationId: (bits & 256) > 0,
      });
    }
  }
  return out;
}

describe('sql', () => {
  it('names every table through the schema placeholder, never a literal schema', () => {
    const all: Array<[string, string]> = [
      ...statements,
      ...MIGRATIONS.map((m): [string, string] => [`migration ${m.version}`, m.sql]),
    ];
    for (const [name, text] of all) {
      for (const m of text.matchAll(
        /\b(?:FROM|JOIN|INTO|UPDATE|TABLE|ON)\s+([a-z_"{}.]+)\.(events|deliveries|dead_letters|subscriptions|replays|migrations|flows|flows_swept|replay_deliveries)\b/gi,
      )) {
        expect(m[1], `${name}: ${m[0]}`).toBe('{s}');
      }
    }
  });

  it("the chain check function (schema 10) is the ordered claims' inline chain rule, word for word", () => {
    const squash = (t: string) => t.replace(/\s+/g, ' ').trim();
    const body = /RETURN ([\s\S]*);\s*END/.exec(SQL.MIGRATION_10_CHAIN_HEAD)?.[1];
    const inline = SQL.chainHead(
      `pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${SQL.POSITION_BLOCK}`,
    )
      .replace(/^\(NOT d\.ordered OR \(/, '')
      .replace(/\)\)$/, '')
      .replaceAll('d.handler', '$1')
      .replaceAll('d.aggregate_id', '$2')
      .replaceAll('d.position', '$3');
    expect(squash(body ?? '')).toBe(squash(inline));
    // The unordered claims call it; the ordered ones (with the unsettled row) keep it inline.
    for (const [name, text] of Object.entries(SQL.LEASE_STATEMENTS)) {
      if (!name.includes('CLAIM')) continue;
      expect(text.includes('{s}.chain_head(d.handler, d.aggregate_id, d.position)'), name).toBe(
        name.includes('UNORDERED'),
      );
      expect(text.includes('NOT EXISTS'), name).toBe(!name.includes('UNORDERED'));
    }
  });

  it('read statements use one bind parameter per filter and the limit, in order', () => {
    for (const shape of shapes()) {
      const text = SQL.readEventsSql(shape);
      const filters =
        (shape.eventTypes === 'none' ? 0 : 1) +
        [
          shape.aggregateId,
          shape.aggregateType,
          shape.correlationId,
          shape.causationId,
          shape.from,
          shape.to,
          shape.afterPosition,
          shape.beforePosition,
        ].filter(Boolean).length;
      // A window's parameters serve its bounds too (which come first in the text), and a cursor's
      // row comparison repeats the key's: every parameter used, none beyond the filters.
      const params = [...new Set([...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])))].sort(
        (a, b) => a - b,
      );
      expect(params).toEqual(Array.from({ length: filters + 1 }, (_, i) => i + 1));
      expect(text).toMatch(new RegExp(`LIMIT \\$${filters + 1}$`));
      expect(text).toContain(shape.desc ? 'DESC' : 'ASC');
      // The probe takes the same filters without the limit.
      const probe = [
        ...new Set([...SQL.unsettledEventsSql(shape).matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))),
      ].sort((a, b) => a - b);
      expect(probe).toEqual(params.slice(0, -1));
    }
  });

  it('binds the schema as a quoted identifier', () => {
    expect(
      SQL.bindSchema('SELECT 1 FROM {s}.events JOIN {s}.deliveries', SQL.quoteIdentifier('evco_x')),
    ).toBe('SELECT 1 FROM "evco_x".events JOIN "evco_x".deliveries');
    expect(SQL.quoteIdentifier('a"b')).toBe('"a""b"');
  });
});
