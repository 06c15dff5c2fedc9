/**
 * The demo's OpenAPI document (what `/docs/json` serves), linted by Redocly CLI with its
 * `recommended` rules (redocly.yaml): no error and no warning. The document is built in-process
 * on the memory store and written to .openapi/openapi.json, the path .redocly.lint-ignore.yaml
 * names; exactly the exceptions listed there (each with its reason) may be ignored.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestApp } from './helpers.js';

const DEMO = join(import.meta.dirname, '..');
const REDOCLY = join(DEMO, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: Array<{
    ruleId: string;
    severity: string;
    message: string;
    location: Array<{ pointer: string }>;
  }>;
}

async function openApiDocument(): Promise<Record<string, unknown>> {
  const t = await createTestApp();
  try {
    await t.app.ready();
    return t.app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await t.close();
  }
}

/** Writes the document where the ignore file expects it (or to `name`) and lints it. */
function lint(document: unknown, name = 'openapi.json'): LintReport {
  const file = join('.openapi', name);
  mkdirSync(join(DEMO, '.openapi'), { recursive: true });
  writeFileSync(join(DEMO, file), JSON.stringify(document, null, 2));
  const run = spawnSync(
    process.execPath,
    [REDOCLY, 'lint', file, '--config', 'redocly.yaml', '--format', 'json'],
    {
      cwd: DEMO,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        REDOCLY_TELEMETRY: 'off',
        REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
        NO_COLOR: '1',
      },
    },
  );
  if (!run.stdout.trim().startsWith('{')) throw new Error(`redocly lint printed no report:\n${run.stderr}`);
  return JSON.parse(run.stdout) as LintReport;
}

const describeProblems = (report: LintReport) =>
  report.problems
    .map((p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)
    .join('\n');

describe('OpenAPI document', () => {
  it("passes Redocly's recommended rules with no error and no warning", { timeout: 120_000 }, async () => {
    const report = lint(await openApiDocument());
    console.log(
      `redocly lint (recommended): ${report.totals.errors} errors, ${report.totals.warnings} warnings, ` +
        `${report.totals.ignored} ignored as listed in .redocly.lint-ignore.yaml`,
    );
    expect(report.totals, describeProblems(report)).toEqual({ errors: 0, warnings: 0, ignored: 2 });
  });

  it('the lint catches what the issue found: a missing servers list, an operation without security', {
    timeout: 120_000,
  }, async () => {
    const document = await openApiDocument();
    const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>;
    delete document.servers;
    delete paths['/evco/handlers']!.get!.security;
    // Written elsewhere, so the health probes' exceptions do not apply: they show too.
    const report = lint(document, 'broken.json');
    const problems = report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`);
    expect(problems.sort()).toEqual([
      'no-empty-servers #/openapi',
      'operation-4xx-response #/paths/~1evco~1health~1live/get/responses',
      'operation-4xx-response #/paths/~1evco~1health~1ready/get/responses',
      'security-defined #/paths/~1evco~1handlers/get',
    ]);
    expect(report.totals.ignored).toBe(0);
  });
});
