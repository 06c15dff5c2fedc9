/**
 * Type-checks doc blocks as a user's strict TypeScript project would: each block is an ES module
 * of its own (`.mts`, top-level await allowed) and `@evco/*` resolve to the workspace's sources
 * through the `@evco/source` export condition. One program for all blocks, so the workspace's
 * sources are checked once.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { blockLocation, type DocBlock } from './extract.js';

/** The compiler options of a strict user project (the repository's own base settings). */
export const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  customConditions: ['@evco/source'],
  strict: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
};

/** The file a block is written to under `dir`: named for its Markdown file and line. */
export function blockFileName(block: DocBlock): string {
  const slug = block.file.replace(/\.md$/i, '').replace(/[^A-Za-z0-9]+/g, '-');
  return `${slug}-L${block.line}.mts`;
}

/** Writes each block to `dir` (which must lie where `@evco/*` resolve) and returns the paths. */
export function writeBlocks(blocks: DocBlock[], dir: string): Map<DocBlock, string> {
  mkdirSync(dir, { recursive: true });
  const paths = new Map<DocBlock, string>();
  for (const block of blocks) {
    const path = join(dir, blockFileName(block));
    writeFileSync(path, block.code.endsWith('\n') ? block.code : `${block.code}\n`);
    paths.set(block, path);
  }
  return paths;
}

/**
 * The diagnostics of each block, as `file.md:line:col TS2304: message`; a diagnostic outside the
 * blocks (in a workspace source a block pulls in) goes to every block, naming its own file.
 */
export function typecheckBlocks(paths: Map<DocBlock, string>, root: string): Map<DocBlock, string[]> {
  const byPath = new Map([...paths].map(([block, path]) => [path, block]));
  const program = ts.createProgram([...paths.values()], COMPILER_OPTIONS);
  const result = new Map<DocBlock, string[]>([...paths.keys()].map((block) => [block, []]));
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    const file = diagnostic.file;
    const block = file ? byPath.get(file.fileName) : undefined;
    if (file && block && diagnostic.start !== undefined) {
      const { line, character } = file.getLineAndCharacterOfPosition(diagnostic.start);
      result.get(block)?.push(`${blockLocation(block, line + 1, character + 1)} ${message}`);
    } else {
      const where = file ? relative(root, file.fileName) : 'compiler';
      for (const problems of result.values()) problems.push(`${where}: ${message}`);
    }
  }
  return result;
}
