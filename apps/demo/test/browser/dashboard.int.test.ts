/**
 * The dashboard in real headless Chromium against a real demo process (SQLite file, admin token):
 * live counts, retrying a dead letter, a replay to its end, and the story's causation tree. Every
 * page visited is saved as a screenshot under test-artifacts/browser/.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVCO_PREFIX } from '../../src/app.js';
import { runHttpStory } from '../../src/story.js';
import { type DemoProcess, json, startDemo } from '../processes.js';
import { ensureDashboardBuilt, hasChromium, launchChromium, screenshot, until } from './browser.js';

/** Where the demo mounts the evco plugin. */
const PREFIX = EVCO_PREFIX;
const TOKEN = 'browser-test-token-0123456789';
/** The promise: a publish shows on the overview within 2 s (1 s polling + render). */
const LIVE_MS = 2000;

describe.skipIf(!hasChromium)(
  'dashboard in Chromium (needs /usr/bin/chromium: apt-get install chromium)',
  () => {
    let dir: string;
    let demo: DemoProcess;
    let browser: Browser;
    let context: BrowserContext;

    beforeAll(async () => {
      ensureDashboardBuilt();
      dir = mkdtempSync(join(tmpdir(), 'evco-dashboard-'));
      [demo, browser] = await Promise.all([
        startDemo({
          DATABASE_URL: join(dir, 'events.db'),
          EVCO_ADMIN_TOKEN: TOKEN,
          EVCO_LOG_LEVEL: 'warn',
          EVCO_LOG_FORMAT: 'json',
        }),
        launchChromium(),
      ]);
    });

    afterAll(async () => {
      await context?.close().catch(() => {});
      await browser?.close();
      if (demo) {
        demo.child.kill('SIGTERM');
        await demo.exited;
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** A fresh tab (fresh sessionStorage) on a page of the dashboard; page errors fail the test. */
    async function open(route = ''): Promise<{ page: Page; errors: string[] }> {
      await context?.close().catch(() => {});
      context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${demo.url}${PREFIX}/dashboard/${route}`);
      await page
        .getByRole('status', { name: 'Connection' })
        .filter({ hasText: /^live$/ })
        .waitFor();
      return { page, errors };
    }

    async function useToken(page: Page): Promise<void> {
      await page.getByRole('textbox', { name: 'Admin token' }).fill(TOKEN);
      await page.getByRole('button', { name: 'Use token' }).click();
      await page.getByRole('button', { name: 'Saved' }).waitFor();
    }

    const statValue = (page: Page, label: string): Locator =>
      page.getByRole('region', { name: label, exact: true }).locator('.stat-value');
    const count = async (locator: Locator) => Number((await locator.textContent())?.replace(/,/g, ''));

    async function publish(body: unknown): Promise<{ eventId: string }> {
      const res = await json<{ eventId: string }>(`${demo.url}${PREFIX}/events`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body;
    }

    const registered = (userId: string) => ({
      eventType: 'UserRegistered',
      aggregateId: userId,
      eventData: { userId, email: `${userId.slice(0, 8)}@example.com`, username: `u${userId.slice(0, 8)}` },
    });

    it('the overview follows a publish: counts move within 2 s', async () => {
      const { page, errors } = await open();
      const published = statValue(page, 'Published');
      const handled = statValue(page, 'Handled');
      await until('a first count', async () => Number.isFinite(await count(published)), 5000);
      const before = { published: await count(published), handled: await count(handled) };

      await publish(registered(randomUUID()));
      // UserRegistered, then the subscription module's SubscriptionActivated.
      await until(
        `Published above ${before.published} and Handled above ${before.handled}`,
        async () => (await count(published)) > before.published && (await count(handled)) > before.handled,
        LIVE_MS,
      );

      const handlers = page.getByRole('table', { name: 'Handlers' });
      await expect(
        handlers.getByRole('row', { name: 'subscription.activateTrialOnUserRegistered' }).count(),
      ).resolves.toBe(1);
      await expect(
        page.getByRole('table', { name: 'Coordinators' }).getByText('this process').count(),
      ).resolves.toBe(1);
      await until(
        'a non-zero handled/s',
        async () => (await statValue(page, 'Handled/s').textContent()) !== '0',
        3000,
      );
      await screenshot(page, 'overview');
      expect(errors).toEqual([]);
    });

    it('a dead letter is retried from the page and then handled', async () => {
      const userId = randomUUID();
      // A login of a user the directory does not know: the user module fails it until it is dead.
      const login = await publish({
        eventType: 'UserLoggedIn',
        aggregateId: userId,
        eventData: { userId, ip: '192.0.2.7', userAgent: 'browser-test' },
      });
      await until(
        'the login to be a dead letter',
        async () => {
          const res = await json<{ deadLetters: { event: { id: string } }[] }>(
            `${demo.url}${PREFIX}/dead-letters?limit=100`,
          );
          return res.body.deadLetters?.some((d) => d.event.id === login.eventId);
        },
        30_000,
      );
      // Once the user module has recorded the user, a retry can succeed.
      await publish(registered(userId));
      await until(
        'the registration to be handled',
        async () => {
          const res = await json<{ handlers: { name: string; pending: number; running: number }[] }>(
            `${demo.url}${PREFIX}/status`,
          );
          const h = res.body.handlers.find((x) => x.name === 'user.recordRegistration');
          return h !== undefined && h.pending + h.running === 0;
        },
        10_000,
      );

      const { page, errors } = await open('#/dead-letters');
      const row = page.getByRole('row', { name: 'UserLoggedIn for user.recordLastLogin' });
      await row.first().waitFor();
      await expect(row.first().textContent()).resolves.toContain('not in the directory');
      await screenshot(page, 'dead-letters');

      // Without the token the server refuses, and the page says so.
      await row.first().getByRole('button', { name: 'Retry UserLoggedIn for user.recordLastLogin' }).click();
      await expect(page.getByRole('alert').textContent()).resolves.toMatch(/UNAUTHORIZED|token/i);

      await useToken(page);
      const rowOfThisLogin = page
        .getByRole('row')
        .filter({ has: page.locator(`a[href$="${login.eventId}"]`) });
      await rowOfThisLogin.getByRole('button', { name: /^Retry / }).click();
      await expect(
        page.getByRole('status').filter({ hasText: 'queued again' }).textContent(),
      ).resolves.toContain('1 delivery');
      await rowOfThisLogin.waitFor({ state: 'detached' });

      // The event's page shows the delivery done.
      await page.goto(`${demo.url}${PREFIX}/dashboard/#/events/${login.eventId}`);
      const delivery = page
        .getByRole('table', { name: 'Deliveries' })
        .getByRole('row', { name: 'user.recordLastLogin' });
      await delivery.getByText('done', { exact: true }).waitFor({ timeout: 10_000 });
      await screenshot(page, 'dead-letter-retried');
      expect(errors).toEqual([]);
    });

    it('a replay started from the form runs until done', async () => {
      const userId = randomUUID();
      await publish(registered(userId));
      const { page, errors } = await open('#/replay');
      await useToken(page);
      await page.getByRole('combobox', { name: 'Event type' }).fill('UserRegistered');
      await page.getByRole('combobox', { name: 'Handler' }).selectOption('user.recordRegistration');
      await page.getByRole('button', { name: 'Start replay' }).click();

      await until('the replay page', () => /#\/replay\/.+/.test(page.url()), 10_000);
      const replayId = decodeURIComponent(page.url().split('#/replay/')[1]!);
      const state = page.getByRole('status', { name: 'Replay state' });
      await state.getByText('done', { exact: true }).waitFor({ timeout: 30_000 });

      const job = await json<{
        done: boolean;
        eventsMatched: number;
        deliveriesQueued: number;
        handler: string;
      }>(`${demo.url}${PREFIX}/replays/${encodeURIComponent(replayId)}`);
      expect(job.body).toMatchObject({ done: true, handler: 'user.recordRegistration' });
      expect(job.body.eventsMatched).toBeGreaterThanOrEqual(1);
      expect(job.body.deliveriesQueued).toBe(job.body.eventsMatched);
      await expect(
        page.getByRole('progressbar', { name: 'Replay progress' }).getAttribute('aria-valuetext'),
      ).resolves.toBe('100 %');
      await screenshot(page, 'replay');
      expect(errors).toEqual([]);
    });

    it('after the story, its root event draws every event of the flow as one tree', async () => {
      const story = await runHttpStory({ baseUrl: demo.url, write: () => {} });
      const { page, errors } = await open(`#/events/${story.rootEventId}`);
      const tree = page.getByRole('list', { name: 'Causation tree' });
      const items = tree.getByRole('listitem');
      await until(
        `${story.events.length} events in the tree`,
        async () => (await items.count()) === story.events.length,
        10_000,
      );

      // Each event sits under its cause: the tree is the flow's causation, not a flat list.
      const parentOf = new Map<string, string | null>();
      for (const item of await items.all()) {
        const id = (await item.locator(':scope > .node-card a').getAttribute('href'))!.split('/').pop()!;
        const parent = item.locator('xpath=../..');
        const parentHref =
          (await parent.evaluate((el) => el.tagName)) === 'LI'
            ? await parent.locator(':scope > .node-card a').getAttribute('href')
            : null;
        parentOf.set(
          decodeURIComponent(id),
          parentHref ? decodeURIComponent(parentHref.split('/').pop()!) : null,
        );
      }
      const inFlow = new Set(story.events.map((e) => e.id));
      for (const e of story.events) {
        const cause = e.metadata.causationId === undefined ? null : String(e.metadata.causationId);
        expect(parentOf.get(e.id), `${e.eventType} ${e.id}`).toBe(
          cause !== null && inFlow.has(cause) ? cause : null,
        );
      }
      await expect(tree.getByRole('link', { name: 'SubscriptionExpired' }).count()).resolves.toBe(1);
      await screenshot(page, 'causation-tree');

      // The explorer finds the same flow by its correlation id.
      await page.goto(`${demo.url}${PREFIX}/dashboard/#/events?correlationId=${story.rootEventId}&order=asc`);
      const rows = page.getByRole('table', { name: 'Events' }).locator('tbody tr');
      await until(
        'the flow in the explorer',
        async () => (await rows.count()) === story.events.length,
        10_000,
      );
      await screenshot(page, 'events');
      expect(errors).toEqual([]);
    });
  },
);
