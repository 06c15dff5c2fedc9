// Builds the dashboard into dashboard/dist/: one ES module, one stylesheet and the page. The
// package's `build` runs it, then copies the result into dist/dashboard (scripts/copy-dashboard.mjs);
// from source the plugin serves dashboard/dist directly. Everything is bundled, so the page works
// offline (no CDN) and under any prefix (every URL in it is relative).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, 'dist');

const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <link rel="icon" href="data:," />
    <title>evco dashboard</title>
    <link rel="stylesheet" href="./dashboard.css" />
    <script type="module" src="./dashboard.js"></script>
  </head>
  <body>
    <div id="app"><p class="boot">Loading the evco dashboard…</p></div>
    <noscript>The evco dashboard needs JavaScript.</noscript>
  </body>
</html>
`;

await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { dashboard: join(here, 'src', 'main.tsx') },
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome109', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
await writeFile(join(outdir, 'index.html'), html);
