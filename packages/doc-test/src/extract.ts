/**
 * The TypeScript blocks of a Markdown file (```ts / ```typescript fences, also inside lists and
 * quotes: the Markdown is parsed, not scanned), each with the marker comment before it, if any:
 *
 *   <!-- doc-test: no-run: <reason> -->       type-checked, not run (e.g. a fragment of an app)
 *   <!-- doc-test: integration: <reason> -->  type-checked; run by `test:int` with DATABASE_URL and REDIS_URL
 *
 * There is no opt-out from type-checking: a block that does not compile is not documentation.
 *
 * A block without a marker is type-checked and run; a `// prints: <text>` comment on a line is a
 * promise that the run prints that line (in the order of the comments).
 *
 * A block without a marker is type-checked and run. A marker that is misspelt, lacks its reason
 * or stands before no TypeScript block is an error naming the file and line, so an opt-out can
 * neither be silent nor rot.
 */
import type { Code, Html, Parent, RootContent } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';

export type BlockMode = 'run' | 'no-run' | 'integration';

export interface DocBlock {
  /** The Markdown file, as given (relative to the repository root in the suite). */
  file: string;
  /** 1-based line of the block's first code line in the Markdown file. */
  line: number;
  /** Columns the code is indented by in the Markdown file (inside a list item). */
  indent: number;
  code: string;
  mode: BlockMode;
  /** Why the block is not simply run (required for `no-run`). */
  reason?: string;
  /** The `// prints: <text>` comments: lines the run must print, in this order. */
  prints: Array<{ line: number; text: string }>;
}

/** A problem with the documentation itself: names the file and line. */
export class DocTestError extends Error {
  override name = 'DocTestError';
}

const TS_LANGS = new Set(['ts', 'typescript', 'mts']);
const MARKER = /^<!--\s*doc-test:\s*([a-z-]+)\s*(?::\s*([\s\S]*?))?\s*-->$/;
const MODES: Record<Exclude<BlockMode, 'run'>, { reasonRequired: boolean }> = {
  'no-run': { reasonRequired: true },
  integration: { reasonRequired: false },
};

function parseMarker(
  node: Html,
  file: string,
): { mode: Exclude<BlockMode, 'run'>; reason?: string } | undefined {
  const text = node.value.trim();
  if (!/^<!--\s*doc-test\b/.test(text)) return undefined;
  const where = `${file}:${node.position?.start.line ?? '?'}`;
  const match = MARKER.exec(text);
  const mode = match?.[1];
  if (!match || !mode || !(mode in MODES)) {
    throw new DocTestError(
      `${where}: unknown doc-test marker ${JSON.stringify(text)}; use <!-- doc-test: no-run: <reason> -->, ` +
        'or <!-- doc-test: integration --> (every block is type-checked; there is no skip)',
    );
  }
  const reason = match[2]?.trim() || undefined;
  const known = mode as Exclude<BlockMode, 'run'>;
  if (MODES[known].reasonRequired && !reason) {
    throw new DocTestError(
      `${where}: the doc-test marker "${mode}" needs a reason: <!-- doc-test: ${mode}: <why> -->`,
    );
  }
  return reason ? { mode: known, reason } : { mode: known };
}

const PRINTS = /\/\/\s*prints:\s*(.+?)\s*$/;

function expectedOutput(code: string): DocBlock['prints'] {
  return code.split('\n').flatMap((text, i) => {
    const match = PRINTS.exec(text);
    return match?.[1] ? [{ line: i + 1, text: match[1] }] : [];
  });
}

const isTsCode = (node: RootContent): node is Code => node.type === 'code' && TS_LANGS.has(node.lang ?? '');

/** Every TypeScript block of `markdown`, in order. */
export function extractBlocks(markdown: string, file: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const visit = (parent: Parent) => {
    let pending: { node: Html; mode: Exclude<BlockMode, 'run'>; reason?: string } | undefined;
    for (const node of parent.children) {
      if (pending && node.type !== 'html' && !isTsCode(node)) {
        throw new DocTestError(
          `${file}:${pending.node.position?.start.line}: the doc-test marker is not followed by a \`\`\`ts block`,
        );
      }
      if (node.type === 'html') {
        const marker = parseMarker(node, file);
        if (marker) pending = { node, ...marker };
      } else if (isTsCode(node)) {
        const start = node.position?.start ?? { line: 0, column: 1 };
        blocks.push({
          file,
          // The fence's own line comes first; the code starts on the next one.
          line: start.line + 1,
          indent: start.column - 1,
          code: node.value,
          prints: expectedOutput(node.value),
          mode: pending?.mode ?? 'run',
          ...(pending?.reason ? { reason: pending.reason } : {}),
        });
        pending = undefined;
      } else if ('children' in node) {
        visit(node as Parent);
      }
    }
    if (pending) {
      throw new DocTestError(
        `${file}:${pending.node.position?.start.line}: the doc-test marker is not followed by a \`\`\`ts block`,
      );
    }
  };
  visit(fromMarkdown(markdown));
  return blocks;
}

/** `file:line` of a block, and of a line inside it (1-based). */
export function blockLocation(block: DocBlock, lineInBlock = 1, column?: number): string {
  const line = block.line + lineInBlock - 1;
  return column === undefined ? `${block.file}:${line}` : `${block.file}:${line}:${column + block.indent}`;
}
