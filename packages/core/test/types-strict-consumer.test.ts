import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('the public types under an application’s strictest compiler options', () => {
  it('compile a handler module with exactOptionalPropertyTypes and friends', () => {
    const program = ts.createProgram([join(here, 'fixtures/strict-consumer.ts')], {
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noPropertyAccessFromIndexSignature: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: ['node'],
      skipLibCheck: true,
      noEmit: true,
    });
    // Only the application's file: core's own sources are compiled with the repository's options
    // (a consumer reads their declarations, where implementation details do not surface).
    const messages = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName.endsWith('strict-consumer.ts'))
      .map(
        (d) =>
          `${d.file?.fileName.split('/').pop()}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
      );
    // Before: defineEvent refused every zod 4 schema ('Property 'value' is missing in type
    // 'FailureResult''), and every handler's eventData was `object`.
    expect(messages).toEqual([]);
  }, 60_000);
});
