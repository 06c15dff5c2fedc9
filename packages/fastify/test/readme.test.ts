/**
 * The READMEs' TypeScript blocks compile against the workspace (types from `src/` through the
 * `@evco/source` condition), and the "add evco to an existing Fastify app" snippet stays under
 * 15 lines and identical in the root README and this package's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const PKG = resolve(import.meta.dirname, '..');
const ROOT = resolve(PKG, '../..');

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function snippetUnder(markdown: string, heading: string): string {
  const section = markdown.slice(markdown.indexOf(heading));
  const [block] = tsBlocks(section);
  if (!block) throw new Error(`no ts block under "${heading}"`);
  return block;
}

/** Type-checks each source as its own ES module; returns the diagnostics as text. */
function typecheck(sources: string[]): string[] {
  const dir = mkdtempSync(join(PKG, '.readme-check-'));
  try {
    const files = sources.map((source, i) => {
      const file = join(dir, `snippet-${i}.mts`);
      writeFileSync(file, `${source}\nexport {};\n`);
      return file;
    });
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      customConditions: ['@evco/source'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      lib: ['lib.es2023.d.ts'],
    });
    return ts
      .getPreEmitDiagnostics(program)
      .map(
        (d) =>
          `${d.file ? d.file.fileName.slice(dir.length + 1) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HEADING = 'Add evco to an existing Fastify app';

describe('README snippets', () => {
  const pluginReadme = readFileSync(join(PKG, 'README.md'), 'utf8');
  const rootReadme = readFileSync(join(ROOT, 'README.md'), 'utf8');

  it('adds evco to a Fastify app in under 15 lines, the same in both READMEs', () => {
    const snippet = snippetUnder(pluginReadme, HEADING);
    expect(snippet.trimEnd().split('\n').length).toBeLessThan(15);
    expect(snippet).toContain('app.register(evcoPlugin');
    expect(snippetUnder(rootReadme, HEADING)).toBe(snippet);
  });

  // A whole type-check of the workspace sources the snippets import: seconds alone, minutes on a loaded machine.
  it('every ts block of the plugin README compiles', { timeout: 300_000 }, () => {
    const blocks = tsBlocks(pluginReadme);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(typecheck(blocks)).toEqual([]);
  });
});
