import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatLine, prettyStream } from '../src/pretty-log.js';

describe('pretty logs', () => {
  it('renders a pino line as time, level, message and fields', () => {
    const line = JSON.stringify({
      level: 30,
      time: Date.parse('2026-01-01T12:00:01.234Z'),
      service: 'evco-demo',
      pid: 1,
      msg: 'coordinator started',
      store: 'sqlite',
      note: 'two words',
    });
    expect(formatLine(line, false)).toBe(
      '12:00:01.234 INFO  coordinator started store=sqlite note="two words"',
    );
  });

  it('shows errors by type and message, and the stack only at error level', () => {
    const err = { type: 'TypeError', message: 'x is undefined', stack: 'TypeError: x\n    at f (a.ts:1:1)' };
    expect(formatLine(JSON.stringify({ level: 40, time: 0, msg: 'retrying', err }), false)).toBe(
      '00:00:00.000 WARN  retrying err="TypeError: x is undefined"',
    );
    expect(formatLine(JSON.stringify({ level: 50, time: 0, msg: 'failed', err }), false)).toContain(
      'at f (a.ts:1:1)',
    );
    expect(formatLine('not json', false)).toBe('not json');
  });

  it('writes whole lines even when chunks split them', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c) => chunks.push(String(c)));
    const stream = prettyStream(out);
    const line = JSON.stringify({ level: 30, time: 0, msg: 'hello' });
    stream.write(line.slice(0, 10));
    stream.write(`${line.slice(10)}\n`);
    await new Promise((r) => setImmediate(r));
    expect(chunks.join('')).toBe('00:00:00.000 INFO  hello\n');
  });
});
