import { describe, expect, it } from 'vitest';
import * as adapterEntry from '../src/adapter.js';
import * as rootEntry from '../src/index.js';

// Plain objects: the test looks names up dynamically.
const adapter: Record<string, unknown> & typeof adapterEntry = { ...adapterEntry };
const root: Record<string, unknown> & typeof rootEntry = { ...rootEntry };

// Names adapter authors used from the root before `@evco/core/adapter` existed: kept there for
// one release as deprecated aliases.
const MOVED = [
  'FORBIDDEN_KEYS',
  'freezeJsonObject',
  'isPlainObject',
  'IDENTIFIER_PATTERN',
  'parseOptions',
  'toIssues',
  'readAllByPages',
  'recordEvent',
  'MAX_POSITION',
] as const;

// Store helpers that were never on the root: only the adapter entry has them.
const ADAPTER_ONLY = [
  'safeHealth',
  'unhealthyStatus',
  'maskedMessage',
  'summarizeStats',
  'planReplayPage',
  'advanceReplay',
  'deepFreezeJson',
] as const;

describe('entry points', () => {
  it('the adapter entry has the store helpers, the errors adapters throw and the position helpers', () => {
    for (const name of [
      ...MOVED,
      ...ADAPTER_ONLY,
      'maskSecrets',
      'maskUrl',
      'parsePosition',
      'formatPosition',
      'comparePositions',
      'StoreUnavailableError',
      'StoreSchemaError',
      'ConcurrencyError',
      'DuplicateEventError',
    ]) {
      expect(adapter, name).toHaveProperty(name);
    }
  });

  it('the root keeps the moved helpers for one release, as the very same values', () => {
    for (const name of MOVED) expect(root[name], name).toBe(adapter[name]);
  });

  it('an error class is one class whichever entry it is imported from', () => {
    expect(adapter.StoreUnavailableError).toBe(root.StoreUnavailableError);
    expect(adapter.EvcoError).toBe(root.EvcoError);
    expect(new adapter.StoreUnavailableError('down')).toBeInstanceOf(root.EvcoError);
  });

  it('the root does not offer adapter-only helpers that were never on it', () => {
    for (const name of ADAPTER_ONLY) expect(root, name).not.toHaveProperty(name);
  });
});
