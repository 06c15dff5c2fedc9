import { createAdminClient, createCoordinator, type EventStore, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createSqliteStore } from '@evco/store-sqlite';
import { describe, expect, it } from 'vitest';
import { printStatus } from '../src/commands/status.js';
import { capturedContext, tempStoreFile } from './support.js';

/** The store, except that its counts query fails as a statement timeout would. */
function statsFailing(store: EventStore): EventStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'stats')
        return () => Promise.reject(new Error('canceling statement due to statement timeout'));
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function statusText(failing: boolean): Promise<string> {
  const file = tempStoreFile('evco-cli-status-');
  // A fleet that has work: one handler subscribed with a pending delivery.
  const app = await createCoordinator({
    store: createSqliteStore({ filename: file }),
    publisher: createInProcPublisher(),
    logger: silentLogger,
  });
  await app.registerHandler('Paid', async () => {}, { name: 'sendReceipt' });
  await app.shutdown();
  const store = createSqliteStore({ filename: file });
  const admin = await createAdminClient({
    store: failing ? statsFailing(store) : store,
    logger: silentLogger,
  });
  const s = await admin.getCoordinatorStatus();
  await admin.close();
  const { ctx, out } = capturedContext({ sqlite: file });
  printStatus(ctx, s, file);
  return out();
}

describe('evco status', () => {
  it('says the fleet counts are unknown when only the stats query fails, instead of zeros', async () => {
    const text = await statusText(true);
    expect(text).toMatch(/^store .*healthy/m);
    expect(text).toMatch(
      /^fleet counts +UNKNOWN: the store's stats did not answer \(canceling statement due to statement timeout\)$/m,
    );
    expect(text).not.toMatch(/0 pending|lag +none|no events/);
    // The handler is listed (subscriptions answered), its figures unknown.
    expect(text).toMatch(/│ sendReceipt │ Paid +│ \? +│ \? +│ \? +│ \? +│ \? +│ live until/);

    const whole = await statusText(false);
    expect(whole).toMatch(/^deliveries +0 pending, 0 dead, 0 orphaned$/m);
    expect(whole).toMatch(/│ sendReceipt │ Paid +│ 0 +│ 0 +│ 0 +│ 0 +│ - +│ live until/);
  });
});
