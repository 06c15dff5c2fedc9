/**
 * A process that dies between its commit and `afterCommit()` loses nothing: the delivery rows
 * committed with the events, so another process's recovery poll runs the handler.
 */
import { createCoordinator, type RecordedEvent, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { waitFor } from '@evco/testkit';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/index.js';
import { runFixture, tempDir } from './support.js';

const tmp = tempDir('evco-outbox-');
afterEach(() => tmp.cleanup());

describe('outbox: crash between commit and announcement', () => {
  it('the event committed by a process killed before afterCommit() is delivered by another process', async () => {
    const file = tmp.file();
    const survivor = await createCoordinator({
      store: createSqliteStore({ filename: file }),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      pollIntervalMs: 50,
    });
    try {
      const handled: RecordedEvent[] = [];
      // Subscribed before the other process publishes: its transaction creates this delivery.
      await survivor.registerHandler('OrderPlaced', (e) => void handled.push(e), { name: 'ship' });

      const child = runFixture('outbox-crash.ts', { env: { OUTBOX_DB: file } });
      const { eventId } = await child.next('committed');
      expect(await child.exited).toBe('SIGKILL');

      await waitFor(() => handled.length === 1);
      expect(handled[0]).toMatchObject({ id: eventId, aggregateId: 'crash-1', eventData: { total: 42 } });
      const db = new Database(file, { readonly: true });
      try {
        expect(db.prepare('SELECT total FROM orders WHERE id = ?').get('crash-1')).toEqual({ total: 42 });
      } finally {
        db.close();
      }
    } finally {
      await survivor.shutdown();
    }
  });
});
