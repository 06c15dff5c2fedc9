import { maskSecrets } from '@evco/core';
import Table from 'cli-table3';
import type { CliIo } from './io.js';

/**
 * Everything evco returns is JSON-safe (positions are decimal strings, dates become ISO). A
 * delivery's `lastError` is masked (`maskSecrets`): core masks what it records, but a row written
 * by an older core holds a handler's error as thrown, connection string and all. Event data is
 * printed as stored.
 */
export function toJson(value: unknown, pretty = true): string {
  return JSON.stringify(value, maskLastError, pretty ? 2 : undefined);
}

function maskLastError(key: string, value: unknown): unknown {
  return key === 'lastError' && typeof value === 'string' ? maskSecrets(value) : value;
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${toJson(value)}\n`);
}

/** A bordered table (cli-table3) with a header row; cells are stringified and kept on one line. */
export function table(head: string[], rows: Array<Array<unknown>>): string {
  const t = new Table({ head, style: { head: [], border: [] }, wordWrap: false });
  for (const row of rows) t.push(row.map(cell));
  return t.toString();
}

export function printTable(io: CliIo, head: string[], rows: Array<Array<unknown>>, empty: string): void {
  io.stdout.write(rows.length === 0 ? `${empty}\n` : `${table(head, rows)}\n`);
}

/** Label/value lines, aligned. */
export function printFields(io: CliIo, fields: Array<[string, unknown]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) io.stdout.write(`${k.padEnd(width)}  ${cell(v)}\n`);
}

export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return toJson(value, false);
  return String(value).replace(/\s*\n\s*/g, ' ');
}

/** Long free text (an error: credentials masked) cut for a table cell; `--json` has it whole. */
export function short(text: string | null | undefined, max = 60): string {
  if (!text) return '-';
  const line = maskSecrets(text).replace(/\s*\n\s*/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
