/** Which Markdown files are doc-tested, and the per-file counts the suite prints. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DocBlock, extractBlocks } from './extract.js';

/** README.md, packages/* and apps/* READMEs, docs/*.md: relative to `root`, sorted. */
export function docFiles(root: string): string[] {
  const files = ['README.md'];
  for (const dir of ['packages', 'apps']) {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const readme = join(dir, entry.name, 'README.md');
      if (entry.isDirectory() && existsSync(join(root, readme))) files.push(readme);
    }
  }
  for (const entry of readdirSync(join(root, 'docs'))) {
    if (entry.endsWith('.md')) files.push(join('docs', entry));
  }
  return files.sort((a, b) => (a === 'README.md' ? -1 : b === 'README.md' ? 1 : a.localeCompare(b)));
}

/** Every TypeScript block of the given files (relative to `root`). */
export function docBlocks(root: string, files: string[]): DocBlock[] {
  return files.flatMap((file) => extractBlocks(readFileSync(join(root, file), 'utf8'), file));
}

export interface FileCounts {
  file: string;
  blocks: number;
  compiled: number;
  run: number;
  /** Run by `test:int` (they need Postgres/Redis). */
  integration: number;
  /** Compiled only. */
  noRun: number;
}

/** The counts per file, for the blocks that passed each step (`ran` holds those run successfully). */
export function countBlocks(
  files: string[],
  blocks: DocBlock[],
  outcome: { compiled: Set<DocBlock>; ran: Set<DocBlock> },
): FileCounts[] {
  return files.map((file) => {
    const own = blocks.filter((b) => b.file === file);
    return {
      file,
      blocks: own.length,
      compiled: own.filter((b) => outcome.compiled.has(b)).length,
      run: own.filter((b) => outcome.ran.has(b)).length,
      integration: own.filter((b) => b.mode === 'integration').length,
      noRun: own.filter((b) => b.mode === 'no-run').length,
    };
  });
}

/** A table: one line per file, then the totals. */
export function formatCounts(title: string, rows: FileCounts[]): string {
  const columns = ['blocks', 'compiled', 'run', 'integration', 'noRun'] as const;
  const headers = ['blocks', 'compiled', 'run', 'test:int', 'no-run'];
  const total: FileCounts = {
    file: 'total',
    blocks: 0,
    compiled: 0,
    run: 0,
    integration: 0,
    noRun: 0,
  };
  for (const row of rows) for (const c of columns) total[c] += row[c];
  const all = [...rows, total];
  const width = Math.max(...all.map((r) => r.file.length));
  const line = (file: string, cells: Array<string | number>) =>
    `${file.padEnd(width)}  ${cells.map((c, i) => String(c).padStart(headers[i]!.length)).join('  ')}`;
  return [
    title,
    line('', headers),
    ...all.map((r) =>
      line(
        r.file,
        columns.map((c) => r[c]),
      ),
    ),
  ].join('\n');
}
