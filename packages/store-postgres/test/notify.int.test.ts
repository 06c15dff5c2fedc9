import { makeEvent, waitFor } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { connect, createTestStore, dropSchema, uniqueSchema } from './support.js';

const now = new Date('2026-01-01T00:00:00.000Z');

describe('LISTEN/NOTIFY wake-up (optional)', () => {
  const schema = uniqueSchema('evco_notify');
  let listener: PostgresStore;
  let writer: PostgresStore;
  let silent: PostgresStore;
  const heard: Array<readonly string[] | undefined> = [];
  let unsubscribe: () => void;

  beforeAll(async () => {
    listener = await createTestStore({ schema, notify: true, applicationName: 'evco-listener' });
    writer = await createTestStore({ schema, notify: true });
    silent = await createTestStore({ schema });
    unsubscribe = listener.onAppended((types) => heard.push(types));
    // Connected and listening: the first call says "look", as after any reconnect.
    await waitFor(() => heard.length > 0);
    expect(heard.shift()).toBeUndefined();
  });

  afterAll(async () => {
    unsubscribe?.();
    await Promise.all([listener?.close(), writer?.close(), silent?.close()]);
    await dropSchema(schema);
  });

  it('hears committed appends from another pool with their event types; never a rolled-back one', async () => {
    await writer.append(
      [
        makeEvent({ eventType: 'B.Happened' }),
        makeEvent({ eventType: 'A:v2' }),
        makeEvent({ eventType: 'B.Happened' }),
      ],
      { now },
    );
    await waitFor(() => heard.length === 1);
    expect(heard.shift()).toEqual(['A:v2', 'B.Happened']);

    const client = await writer.pool.connect();
    try {
      await client.query('BEGIN');
      await writer.appendInTransaction(client, [makeEvent({ eventType: 'RolledBack' })], { now });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    // A store without `notify` rings nothing either.
    await silent.append([makeEvent({ eventType: 'Silent' })], { now });
    await writer.append([makeEvent({ eventType: 'Single' })], { now });
    await waitFor(() => heard.length === 1);
    expect(heard.shift()).toEqual(['Single']);
  });

  it('reconnects after its connection is killed, says "look", and hears later appends', async () => {
    const admin = await connect();
    try {
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'evco-listener' AND query LIKE 'LISTEN%'`,
      );
      expect(rows.length).toBe(1);
    } finally {
      await admin.end();
    }
    await waitFor(() => heard.length === 1, { timeoutMs: 15_000 });
    expect(heard.shift()).toBeUndefined();
    await writer.append([makeEvent({ eventType: 'AfterReconnect' })], { now });
    await waitFor(() => heard.length === 1);
    expect(heard.shift()).toEqual(['AfterReconnect']);
  });

  it('stops listening when the last listener unsubscribes, giving its connection back', async () => {
    unsubscribe();
    const admin = await connect();
    try {
      await waitFor(async () => {
        const { rows } = await admin.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'evco-listener' AND query LIKE 'LISTEN%'`,
        );
        return rows[0].n === 0;
      });
    } finally {
      await admin.end();
    }
    await writer.append([makeEvent({ eventType: 'NobodyListens' })], { now });
    // Another listener on the same store is connected afresh and hears only what follows.
    const again: Array<readonly string[] | undefined> = [];
    const stop = listener.onAppended((types) => again.push(types));
    await waitFor(() => again.length === 1);
    await writer.append([makeEvent({ eventType: 'Later' })], { now });
    await waitFor(() => again.length === 2);
    expect(again).toEqual([undefined, ['Later']]);
    expect(heard).toEqual([]);
    stop();
  });
});
