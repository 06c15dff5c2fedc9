// Every optional property of a published package's types is written `?: T | undefined`, so an
// application compiled with exactOptionalPropertyTypes may pass a value that can be undefined
// (`connectionString: process.env.DATABASE_URL`), as the READMEs do; the option schemas read an
// undefined property as an absent one. The repository itself compiles with the flag off, where
// both spellings mean the same, so nothing else would notice a new `?: T`. Checked by
// `pnpm test:scripts` (optional-undefined.test.mjs); `node scripts/optional-undefined.mjs` lists.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Packages whose types applications do not compile against: the `evco` command. */
const EXEMPT = new Set(['@evco/cli']);

function includesUndefined(type) {
  return (
    type.kind === ts.SyntaxKind.UndefinedKeyword ||
    type.kind === ts.SyntaxKind.AnyKeyword ||
    type.kind === ts.SyntaxKind.UnknownKeyword ||
    (ts.isUnionTypeNode(type) && type.types.some(includesUndefined)) ||
    (ts.isParenthesizedTypeNode(type) && includesUndefined(type.type))
  );
}

/** `file:line name` of each optional property signature (interface or type literal) without `| undefined`. */
export function findBareOptionals(text, fileName) {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    if (ts.isPropertySignature(node) && node.questionToken && node.type && !includesUndefined(node.type)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      found.push(`${fileName}:${line + 1} ${node.name.getText(source)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The findings in the `src` of every published package of the workspace at `root`. */
export function checkWorkspace(root) {
  const packagesDir = join(root, 'packages');
  return readdirSync(packagesDir).flatMap((name) => {
    const dir = join(packagesDir, name);
    const manifestPath = join(dir, 'package.json');
    if (!existsSync(manifestPath) || !existsSync(join(dir, 'src'))) return [];
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    if (manifest.private || EXEMPT.has(manifest.name)) return [];
    return sourceFiles(join(dir, 'src')).flatMap((file) =>
      findBareOptionals(readFileSync(file, 'utf8'), relative(root, file)),
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const found = checkWorkspace(join(dirname(fileURLToPath(import.meta.url)), '..'));
  for (const line of found) process.stdout.write(`${line}: write \`?: T | undefined\`\n`);
  process.exitCode = found.length > 0 ? 1 : 0;
}
