import { recordingLogger } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';

describe("pg's process warnings", () => {
  it("sslmode=require: pg-connection-string's SECURITY WARNING goes to the evco logger at warn, not to Node's warning output (stderr)", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const logger = recordingLogger();
    try {
      // Nothing listens on port 1: the health check's connection is refused at once, but pg has
      // parsed the URL by then (as it does for every connection).
      const store = createPostgresStore({
        connectionString: 'postgresql://app:s3cret-pw@127.0.0.1:1/app?sslmode=require',
        logger,
        connectionTimeoutMs: 2000,
      });
      expect((await store.healthCheck()).healthy).toBe(false);
      await store.close();
      await new Promise((r) => setImmediate(r));
      expect(warnings).toEqual([]);
      const warned = logger.entries.filter((e) => e.driver === 'pg');
      expect(warned.map((e) => e.level)).toEqual(['warn']);
      expect(warned[0]!.msg).toMatch(
        /^pg: SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca' are treated as aliases for 'verify-full'\. /,
      );
      expect(warned[0]!.msg).not.toContain('\n');
      expect(JSON.stringify(logger.entries)).not.toContain('s3cret-pw');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
