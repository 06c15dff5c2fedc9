import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { createSqliteStore } from '@evco/store-sqlite';
import { afterAll, describe, it } from 'vitest';
import { tellStoryOn } from './story.js';

const dir = mkdtempSync(join(tmpdir(), 'evco-story-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the cross-module story: one flow, every module in its final state', () => {
  it('on store-memory + publisher-inproc', async () => {
    await tellStoryOn(createMemoryStore(), createInProcPublisher());
  });

  it('on store-sqlite + publisher-inproc', async () => {
    await tellStoryOn(createSqliteStore({ filename: join(dir, 'story.db') }), createInProcPublisher());
  });
});
