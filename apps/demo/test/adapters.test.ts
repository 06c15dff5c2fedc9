import { describe, expect, it } from 'vitest';
import { createStore } from '../src/adapters.js';
import { loadConfig } from '../src/config.js';

describe('createStore', () => {
  it("gives store-postgres the demo's logger: pg's sslmode SECURITY WARNING is a demo log line at warn", async () => {
    const entries: Array<{ level: string; msg: string }> = [];
    const at =
      (level: string) =>
      (obj: object | string, msg?: string): void => {
        entries.push({ level, msg: typeof obj === 'string' ? obj : (msg ?? '') });
      };
    const logger = {
      trace: at('trace'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    };
    const config = loadConfig({ DATABASE_URL: 'postgresql://demo@127.0.0.1:1/demo?sslmode=require' });
    const store = createStore(config, logger as never);
    await store.close();
    expect(entries.filter((e) => /SECURITY WARNING/.test(e.msg)).map((e) => e.level)).toEqual(['warn']);
  });
});
