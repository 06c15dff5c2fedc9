/**
 * The "add evco to an existing Fastify app" snippet stays under 15 lines and identical in the root
 * README and this package's. (Every README block is type-checked and run by packages/doc-test.)
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const PKG = resolve(import.meta.dirname, '..');
const ROOT = resolve(PKG, '../..');

function snippetUnder(markdown: string, heading: string): string {
  const section = markdown.slice(markdown.indexOf(heading));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`no ts block under "${heading}"`);
  return block;
}

const HEADING = 'Add evco to an existing Fastify app';

describe('README snippets', () => {
  it('adds evco to a Fastify app in under 15 lines, the same in both READMEs', () => {
    const pluginReadme = readFileSync(join(PKG, 'README.md'), 'utf8');
    const rootReadme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const snippet = snippetUnder(pluginReadme, HEADING);
    expect(snippet.trimEnd().split('\n').length).toBeLessThan(15);
    expect(snippet).toContain('app.register(evcoPlugin');
    expect(snippetUnder(rootReadme, HEADING)).toBe(snippet);
  });
});
