import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { evco } from './bin.js';
import { tempStoreFile } from './support.js';

/** stderr's lines, each of which must be one of the CLI's JSON log lines. */
function logLines(stderr: string): Array<{ level: number; msg: string }> {
  return stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: number; msg: string });
}

const redis = process.env.EVCO_TEST_REDIS_URL;

describe("driver warnings follow EVCO_LOG_LEVEL (the built CLI's stderr)", () => {
  it.skipIf(!redis || new URL(redis).password !== '')(
    "ioredis's '[WARN] … does not require a password': nothing unset or at error, a warn log line at warn",
    async () => {
      const file = tempStoreFile('evco-cli-warnings-');
      execFileSync(process.execPath, [`${import.meta.dirname}/../dist/bin.js`, 'migrate', '--sqlite', file]);
      const url = new URL(redis!);
      url.password = 's3cret-pw';
      const flags = ['status', '--sqlite', file, '--redis-url', url.toString()];
      // status waits for the publisher's health check: both connections have sent AUTH by then.
      for (const env of [{}, { EVCO_LOG_LEVEL: 'error' }, { EVCO_LOG_LEVEL: 'silent' }]) {
        const quiet = await evco(flags, env);
        expect(quiet).toMatchObject({ code: 0, stderr: '' });
      }
      const verbose = await evco(flags, { EVCO_LOG_LEVEL: 'warn' });
      expect(verbose.code).toBe(0);
      const lines = logLines(verbose.stderr);
      expect(lines.filter((l) => /does not require a password/.test(l.msg)).map((l) => l.level)).toEqual([
        40,
      ]);
      expect(verbose.stderr).not.toContain('s3cret-pw');
    },
  );

  it("pg's sslmode SECURITY WARNING: only the command's own error unset, a warn log line at warn", async () => {
    // Nothing listens on port 1: status reports the store unhealthy (exit 1) after pg parsed the URL.
    const flags = ['status', '--database-url', 'postgresql://app:s3cret-pw@127.0.0.1:1/app?sslmode=require'];
    const quiet = await evco(flags);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toMatch(/^evco: [^\n]*\n$/);
    expect(quiet.stderr).not.toContain('SECURITY WARNING');
    const verbose = await evco(flags, { EVCO_LOG_LEVEL: 'warn' });
    const [own, ...logged] = verbose.stderr.split('\n').filter(Boolean).reverse();
    expect(own).toMatch(/^evco: /);
    const warned = logLines(logged.reverse().join('\n')).filter((l) => /SECURITY WARNING/.test(l.msg));
    expect(warned.map((l) => l.level)).toEqual([40]);
    expect(verbose.stderr).not.toContain('s3cret-pw');
  });
});
