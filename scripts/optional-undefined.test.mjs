// node --test scripts/ (pnpm test:scripts): optional-undefined.mjs.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkWorkspace, findBareOptionals } from './optional-undefined.mjs';

describe('optional properties accept undefined', () => {
  it('finds an optional property signature without | undefined, in interfaces and type literals', () => {
    const text = [
      'export interface Options {',
      '  url?: string;',
      '  pool?: Pool | undefined;',
      '  onError?: (error: unknown) => void;',
      '  check?: ((request: Request) => boolean) | undefined;',
      '  required: string;',
      '  anything?: unknown;',
      '}',
      'export function f(query: { limit?: number; handler?: string | undefined } = {}) {}',
    ].join('\n');
    assert.deepEqual(findBareOptionals(text, 'options.ts'), [
      'options.ts:2 url',
      'options.ts:4 onError',
      'options.ts:9 limit',
    ]);
  });

  it("every published package's types (the CLI's aside) write optional properties as ?: T | undefined", () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '..');
    assert.deepEqual(checkWorkspace(root), []);
  });
});
