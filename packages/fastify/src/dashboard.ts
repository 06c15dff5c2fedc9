/**
 * The dashboard's static assets. They are built from `dashboard/` into `dist/dashboard` when
 * the package is built; running from source (tests, the demo in development) they are read from
 * `dashboard/dist`. When neither exists a placeholder page says how to build them, so a missing
 * build is obvious instead of a bare 404.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** This module's directory, in the ESM and the CommonJS build and from source. */
function moduleDir(): string {
  return typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
}

/** Where the built dashboard is, or `undefined` when it was not built. */
export function findDashboardAssets(root?: string): string | undefined {
  const here = moduleDir();
  const candidates = root
    ? [resolve(root)]
    : // From dist: dist/dashboard. From source: the dashboard's own build output first (rebuilt
      // when its sources change), then a copy left by an older package build.
      [join(here, 'dashboard'), join(here, '..', 'dashboard', 'dist'), join(here, '..', 'dist', 'dashboard')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

/**
 * Same-origin only: the dashboard talks to the API next to it and loads nothing from elsewhere
 * (it works offline), so a stricter policy costs nothing and blunts an injected script.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>evco dashboard (not built)</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>evco dashboard: not built</h1>
<p>The evco plugin is running and its API answers next to this page, but the dashboard's assets were not
found. Build them with <code>pnpm --filter @evco/fastify build</code> (in the evco repository) or install
a published <code>@evco/fastify</code>, which ships them.</p>
<p><a href="../status">status (JSON)</a></p>
</body></html>
`;

/** Serves `{prefix}/dashboard/` (and redirects `{prefix}/dashboard` to it). */
export async function registerDashboard(
  app: FastifyInstance,
  options: { prefix: string; root?: string | undefined },
): Promise<{ assets: string | undefined }> {
  const base = `${options.prefix}/dashboard`;
  const assets = findDashboardAssets(options.root);
  const headers = (reply: { header(name: string, value: string): unknown }) => {
    reply.header('content-security-policy', DASHBOARD_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  };
  const hide = { schema: { hide: true } };
  if (!assets) {
    app.get(base, hide, async (_request, reply) => reply.redirect(`${app.prefix}${base}/`, 302));
    app.get(`${base}/*`, hide, async (_request, reply) => {
      headers(reply);
      reply.header('x-evco-dashboard', 'placeholder');
      return reply.type('text/html; charset=utf-8').send(PLACEHOLDER);
    });
    return { assets };
  }
  await app.register(fastifyStatic, {
    root: assets,
    prefix: `${base}/`,
    // Leaves `reply.sendFile` to the host app's own @fastify/static, if it has one.
    decorateReply: false,
    redirect: true,
    index: ['index.html'],
    schemaHide: true,
    setHeaders(res) {
      res.setHeader('content-security-policy', DASHBOARD_CSP);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
    },
  });
  return { assets };
}
