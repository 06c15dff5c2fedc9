import { recordingLogger } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { closedAfterEach, createTestStore } from './support.js';

describe("the server's notices", () => {
  const stores = closedAfterEach();

  it('reach the store logger: WARNING at warn, NOTICE at debug (pg dropped them: nobody listened)', async () => {
    const logger = recordingLogger();
    const store = await createTestStore({ logger });
    stores.push(store);
    await store.pool.query(
      "DO $$ BEGIN RAISE WARNING 'evco-test warning %', 1; RAISE NOTICE 'evco-test notice'; END $$",
    );
    const notices = logger.entries.filter((e) => e.driver === 'pg' && e.msg.includes('evco-test'));
    expect(notices.map((e) => [e.level, e.severity, e.msg])).toEqual([
      ['warn', 'WARNING', 'postgres WARNING: evco-test warning 1'],
      ['debug', 'NOTICE', 'postgres NOTICE: evco-test notice'],
    ]);
  });
});
