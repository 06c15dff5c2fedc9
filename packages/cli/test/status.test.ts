import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createAdminClient, createCoordinator, type EventStore, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createSqliteStore } from '@evco/store-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { printStatus } from '../src/commands/status.js';
import type { Context } from '../src/context.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

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
  const dir = mkdtempSync(join(tmpdir(), 'evco-cli-status-'));
  dirs.push(dir);
  const file = join(dir, 'events.db');
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
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (d) => {
    text += d;
  });
  const ctx: Context = {
    io: { stdout, stderr: new PassThrough(), env: {}, interrupted: new Promise(() => {}) },
    json: false,
    flags: { sqlite: file },
  };
  printStatus(ctx, s, file);
  return text;
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
