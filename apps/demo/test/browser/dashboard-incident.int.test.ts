/**
 * The dashboard during an incident, in real headless Chromium: an in-process app (the plugin on
 * the memory store) holding what an on-call engineer meets — a handler with a long name whose
 * deliveries all die with long errors, an event type of 70 characters, a process that went away
 * (its subscription expired, its deliveries orphaned), a pruned range — looked at on a laptop
 * (1280 px) and a phone (390 px), with the server's answers degraded where a test needs it.
 * Screenshots go to test-artifacts/browser/ (incident-*).
 */
import { randomUUID } from 'node:crypto';
import { createCoordinator, type EventDrivenCoordinator } from '@evco/core';
import { bearerToken, evcoPlugin } from '@evco/fastify';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDashboardBuilt, hasChromium, launchChromium, screenshot, until } from './browser.js';

const TOKEN = 'incident-test-token-0123456789';
const LONG_HANDLER = 'billing.chargeCustomerCardForOrderPlacedWithIdempotencyKeyAndThreeDSecureFallback';
const LONG_TYPE = 'CustomerSubscriptionRenewalPaymentFailedAfterAllRetriesWereExhaustedV2';
const GONE_HANDLER = 'legacy.inventoryReservationProjection';
const DAY = 86_400_000;
const ORDERS = 3;
const PRUNED = 20;

const noop = () => {};
const silent = { debug: noop, info: noop, warn: noop, error: noop, child: () => silent } as never;

interface Incident {
  app: FastifyInstance;
  url: string;
  coordinator: EventDrivenCoordinator;
  goneId: string;
  deadEventId: string;
}

/** The app and its state: dead letters, an orphaned handler of a gone process, a pruned range. */
async function incident(options: { protectReads?: boolean; adminOff?: boolean } = {}): Promise<Incident> {
  const store = createMemoryStore();
  // A process that ran a handler and went away: nobody renews its subscription after 2 s.
  const gone = await createCoordinator({
    store,
    publisher: createInProcPublisher(),
    closeAdapters: false,
    subscriptionTtlMs: 2000,
    logger: silent,
  });
  await gone.registerHandler('OrderPlaced', async () => {}, { name: GONE_HANDLER });
  await gone.shutdown();

  const app = Fastify({ logger: false });
  await app.register(evcoPlugin, {
    coordinator: {
      store,
      publisher: createInProcPublisher(),
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      pollIntervalMs: 50,
      // Renewed every 10 s: "last seen" stays in seconds.
      subscriptionTtlMs: 30_000,
    },
    ...(options.adminOff
      ? { authHint: 'start the service with EVCO_ADMIN_TOKEN set' }
      : { auth: bearerToken(TOKEN) }),
    protectReads: options.protectReads ?? false,
  });
  const coordinator = app.evco;
  await coordinator.registerHandler(
    'OrderPlaced',
    async (event) => {
      throw new Error(
        `[billing] card processor rejected charge for order ${event.aggregateId}: HTTP 502 Bad Gateway ` +
          'from the payments gateway (upstream connect error or disconnect/reset before headers; reset ' +
          `reason: connection termination; retried 3 times over 14.2 s; idempotency key ${event.id})`,
      );
    },
    { name: LONG_HANDLER },
  );
  await coordinator.registerHandler(LONG_TYPE, async () => {}, { name: 'analytics.track' });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });

  const old = Date.now() - 40 * DAY;
  await coordinator.publishEvents(
    Array.from({ length: PRUNED }, (_, i) => ({
      eventType: 'AuditLogEntryRecorded',
      aggregateId: randomUUID(),
      eventData: { i },
      occurredAt: new Date(old + i * 60_000),
    })),
  );
  await coordinator.pruneEvents({ before: new Date(Date.now() - 30 * DAY) });
  const orders = [];
  for (let i = 0; i < ORDERS; i++) {
    orders.push(
      await coordinator.publishEvent({
        eventType: 'OrderPlaced',
        aggregateId: randomUUID(),
        eventData: { total: 1_234_567 + i },
      }),
    );
  }
  await coordinator.publishEvent({ eventType: LONG_TYPE, aggregateId: randomUUID(), eventData: {} });
  await until(
    `${ORDERS} dead letters and the gone process's subscription expired`,
    async () => {
      const status = (await (await fetch(`${url}/evco/status`)).json()) as {
        counts: { dead: number };
        fleet: { coordinatorId: string; expired: boolean }[];
      };
      return (
        status.counts.dead === ORDERS && status.fleet.some((m) => m.coordinatorId === gone.id && m.expired)
      );
    },
    10_000,
  );
  return { app, url, coordinator, goneId: gone.id, deadEventId: orders[0]!.eventId };
}

describe.skipIf(!hasChromium)(
  'the dashboard during an incident, in Chromium (needs /usr/bin/chromium: apt-get install chromium)',
  () => {
    let browser: Browser;
    let context: BrowserContext | undefined;
    let open: Incident;
    let guarded: Incident | undefined;
    let adminOff: Incident | undefined;

    beforeAll(async () => {
      ensureDashboardBuilt();
      [open, browser] = await Promise.all([incident(), launchChromium()]);
    }, 30_000);

    afterAll(async () => {
      await context?.close().catch(() => {});
      await browser?.close();
      await open?.app.close();
      await guarded?.app.close();
      await adminOff?.app.close();
    });

    /** A fresh tab, `width` wide, in New York time; page errors fail the test. */
    async function tab(
      target: Incident,
      route: string,
      options: { width?: number; token?: boolean | string } = {},
    ): Promise<{ page: Page; errors: string[] }> {
      await context?.close().catch(() => {});
      context = await browser.newContext({
        viewport: { width: options.width ?? 1280, height: 800 },
        timezoneId: 'America/New_York',
      });
      if (options.token) {
        await context.addInitScript({
          content: `sessionStorage.setItem('evco.dashboard.token', ${JSON.stringify(options.token === true ? TOKEN : options.token)})`,
        });
      }
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${target.url}/evco/dashboard/${route}`);
      await page
        .getByRole('status', { name: 'Connection' })
        .filter({ hasText: /^live$/ })
        .waitFor();
      return { page, errors };
    }

    const posts = (page: Page, path: string): Request[] => {
      const seen: Request[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST' && new URL(r.url()).pathname.endsWith(path)) seen.push(r);
      });
      return seen;
    };

    it('at 1280 and 390 px no page is wider than the window, and the header keeps the token field on screen', async () => {
      // Each route and what shows once its data is in.
      const routes = {
        overview: ['', 'table[aria-label="Subscriptions"]'],
        'dead-letters': ['#/dead-letters', 'table[aria-label="Dead letters"] tbody tr'],
        replay: ['#/replay', 'form[aria-label="Replay"]'],
        events: ['#/events', 'table[aria-label="Events"] tbody tr'],
        event: [`#/events/${open.deadEventId}`, 'table[aria-label="Deliveries"] tbody tr'],
      };
      const overflows: string[] = [];
      for (const width of [1280, 390]) {
        for (const [name, [route, loaded]] of Object.entries(routes)) {
          const { page, errors } = await tab(open, route!, { width });
          await page.locator(loaded!).first().waitFor();
          const scrollWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
          const token = (await page.locator('.token button').boundingBox())!;
          const tokenRight = token.x + token.width;
          if (scrollWidth > width) overflows.push(`${name} at ${width} px is ${scrollWidth} px wide`);
          if (tokenRight > width)
            overflows.push(`${name} at ${width} px: the token button ends at ${tokenRight}`);
          if (width === 390) await screenshot(page, `incident-390-${name}`);
          expect(errors).toEqual([]);
        }
      }
      expect(overflows).toEqual([]);
    });

    it('long handler and event type names wrap: every column and the actions stay in view at 1280 px', async () => {
      const { page } = await tab(open, '');
      const handlers = page.getByRole('table', { name: 'Handlers' });
      await handlers.getByRole('row', { name: GONE_HANDLER }).waitFor();
      // The table fits its panel: no column (orphaned, lag, last error) is scrolled out of sight.
      const fits = async (on: Page, table: string) =>
        on
          .getByRole('table', { name: table })
          .evaluate((t) => t.getBoundingClientRect().width <= (t.parentElement?.clientWidth ?? 0));
      await expect(fits(page, 'Handlers')).resolves.toBe(true);
      // The long event type stays in its cell instead of running over the counts beside it.
      const typeCell = handlers.getByRole('row', { name: 'analytics.track' }).locator('td.types');
      await expect(typeCell.evaluate((td) => td.scrollWidth <= td.clientWidth)).resolves.toBe(true);
      // The gone handler's Retire button is on screen.
      const retire = page.getByRole('button', { name: `Retire ${GONE_HANDLER}` });
      const box = (await retire.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(1280);
      await screenshot(page, 'incident-overview');

      // Dead letters: a long error is a preview that opens, so a screen holds several letters.
      const dead = await tab(open, '#/dead-letters');
      const rows = dead.page.getByRole('table', { name: 'Dead letters' }).locator('tbody tr');
      await until('the dead letters', async () => (await rows.count()) === ORDERS, 5000);
      await expect(fits(dead.page, 'Dead letters')).resolves.toBe(true);
      const first = rows.first();
      expect((await first.boundingBox())!.height).toBeLessThan(200);
      // The preview is phrasing content, all a <summary> may hold (a <pre> there is invalid HTML).
      await expect(first.locator('summary pre').count()).resolves.toBe(0);
      await first.getByText(/show all/).click();
      await expect(first.textContent()).resolves.toContain('idempotency key');
      await screenshot(dead.page, 'incident-dead-letters');
    });

    it('"Retry all" asks first and names the count; double clicks never skip a confirmation', async () => {
      const { page, errors } = await tab(open, '#/dead-letters', { token: true });
      const retries = posts(page, '/dead-letters/retry');
      await page.getByRole('table', { name: 'Dead letters' }).locator('tbody tr').first().waitFor();
      const confirm = page.getByRole('group', { name: 'Confirm' });
      const focused = (name: string) =>
        confirm.getByRole('button', { name }).evaluate((b) => b === b.ownerDocument.activeElement);
      // One activation: focus lands on Cancel, so Enter cancels.
      await page.getByRole('button', { name: 'Retry all' }).click();
      await expect(confirm.textContent()).resolves.toContain(`Queue all ${ORDERS} dead letters again?`);
      await expect(focused('Cancel')).resolves.toBe(true);
      await page.keyboard.press('Enter');
      await confirm.waitFor({ state: 'detached' });
      expect(retries).toHaveLength(0);
      // A double click: its second press lands on the disabled Retry all (the page then has the
      // focus), never on the confirming button, so Enter confirms nothing; Cancel closes the row.
      await page.getByRole('button', { name: 'Retry all' }).dblclick();
      await expect(confirm.textContent()).resolves.toContain(`Queue all ${ORDERS} dead letters again?`);
      expect(retries).toHaveLength(0);
      await expect(focused(`Retry ${ORDERS} dead letters`)).resolves.toBe(false);
      await page.keyboard.press('Enter');
      expect(retries).toHaveLength(0);
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await confirm.waitFor({ state: 'detached' });
      expect(retries).toHaveLength(0);

      await page.getByRole('button', { name: 'Retry all' }).click();
      await confirm.getByRole('button', { name: `Retry ${ORDERS} dead letters` }).dblclick();
      await page.getByRole('status').filter({ hasText: 'queued again' }).waitFor();
      expect(retries).toHaveLength(1);
      await expect(
        page.getByRole('status').filter({ hasText: 'queued again' }).textContent(),
      ).resolves.toContain(`${ORDERS} deliveries`);

      // Retiring a handler: the same two steps, the same double-click safety.
      const overview = await tab(open, '', { token: true });
      const retires = posts(overview.page, '/retire');
      await overview.page.getByRole('button', { name: `Retire ${GONE_HANDLER}` }).dblclick();
      await expect(overview.page.getByRole('group', { name: 'Confirm' }).textContent()).resolves.toContain(
        `Retire ${GONE_HANDLER}?`,
      );
      expect(retires).toHaveLength(0);
      expect([...errors, ...overview.errors]).toEqual([]);
    });

    it('every time says it is UTC, and the forms say which zone they take', async () => {
      const { page } = await tab(open, '#/dead-letters');
      const failedAt = page.getByRole('table', { name: 'Dead letters' }).locator('tbody tr time').first();
      await expect(failedAt.textContent()).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC$/);
      await page.goto(`${open.url}/evco/dashboard/#/replay`);
      await expect(page.getByRole('form', { name: 'Replay' }).textContent()).resolves.toContain(
        'America/New_York',
      );
      await page.goto(`${open.url}/evco/dashboard/#/events`);
      await expect(page.getByText('Occurred from (America/New_York)').count()).resolves.toBe(1);
    });

    it("an event's delivery to a handler nobody runs any more says it is orphaned", async () => {
      const { page, errors } = await tab(open, `#/events/${open.deadEventId}`);
      const deliveries = page.getByRole('table', { name: 'Deliveries' });
      const orphan = deliveries.getByRole('row', { name: GONE_HANDLER });
      await orphan.getByRole('link', { name: 'orphaned' }).waitFor();
      await expect(orphan.textContent()).resolves.toContain('pending');
      await expect(
        deliveries.getByRole('row', { name: LONG_HANDLER }).getByText('orphaned').count(),
      ).resolves.toBe(0);
      await screenshot(page, 'incident-event-orphaned');
      expect(errors).toEqual([]);
    });

    it('a pruned range says what retention removed instead of looking empty', async () => {
      const from = new Date(Date.now() - 41 * DAY).toISOString();
      const to = new Date(Date.now() - 35 * DAY).toISOString();
      const { page } = await tab(open, `#/events?from=${from}&to=${to}`);
      const note = page.getByRole('note').filter({ hasText: 'Retention removed' });
      await note.waitFor();
      await expect(note.textContent()).resolves.toMatch(
        new RegExp(`AuditLogEntryRecorded that occurred before .+ UTC \\(${PRUNED} removed so far\\)`),
      );
      await screenshot(page, 'incident-pruned-range');
    });

    it('with protectReads and no token, a gone process reads as gone and the subscriptions ask for the token', async () => {
      guarded = await incident({ protectReads: true });
      const { page, errors } = await tab(guarded, '');
      const gone = page
        .getByRole('table', { name: 'Coordinators' })
        .getByRole('row')
        .filter({
          has: page.locator(`th[title="${guarded.goneId}"]`),
        });
      await expect(gone.textContent()).resolves.toContain('gone (expired)');
      const subscriptions = page.getByRole('region', { name: 'Subscriptions' });
      await subscriptions.getByRole('alert').waitFor();
      await expect(subscriptions.textContent()).resolves.toContain('need the admin token');
      await expect(subscriptions.getByText('No subscription is stored').count()).resolves.toBe(0);
      await screenshot(page, 'incident-protected-reads');

      // A 401 says which to fix: no token, or a token the server refused.
      const none = await tab(guarded, '#/dead-letters');
      await expect(none.page.getByRole('alert').textContent()).resolves.toContain('give the admin token');
      const wrong = await tab(guarded, '#/dead-letters', { token: 'not-the-token-0123456789' });
      await expect(wrong.page.getByRole('alert').textContent()).resolves.toContain(
        'the admin token given was refused',
      );
      expect([...errors, ...none.errors, ...wrong.errors]).toEqual([]);
    });

    it("relative times and the replay form's default range run on the server's clock, not on a browser ten minutes behind", async () => {
      await context?.close().catch(() => {});
      context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.clock.install({ time: new Date(Date.now() - 10 * 60_000) });
      await page.goto(`${open.url}/evco/dashboard/`);
      const self = page
        .getByRole('table', { name: 'Coordinators' })
        .getByRole('row')
        .filter({ hasText: 'this process' });
      await self.waitFor();
      // The coordinator renewed its subscriptions seconds ago (every 10 s here).
      await until(
        'a "last seen" in seconds',
        async () => /^\d+(\.\d)? s ago$/.test((await self.locator('td').nth(1).textContent()) ?? ''),
        5000,
      );
      await expect(self.locator('td').nth(1).textContent()).resolves.not.toMatch(/^in |min/);

      // A tab opened straight on the replay form (no reply yet when it draws): its default range
      // still ends after the server's now.
      const replay = await context.newPage();
      await replay.clock.install({ time: new Date(Date.now() - 10 * 60_000) });
      await replay.goto(`${open.url}/evco/dashboard/#/replay`);
      await replay
        .getByRole('status', { name: 'Connection' })
        .filter({ hasText: /^live$/ })
        .waitFor();
      const to = replay.getByLabel('To (exclusive)');
      await until(
        "a default range ending after the server's now",
        async () => Date.parse(await to.inputValue()) > Date.now(),
        5000,
      );
    });

    it('large counts are exact and stay inside their cards; a list loading is not an empty one', async () => {
      const { page } = await tab(open, '');
      await page.route('**/evco/status', async (route) => {
        const res = await route.fetch();
        const body = await res.json();
        Object.assign(body.counts, { published: 1_234_567_890, dead: 1_234_567, pending: 98_765_432 });
        body.metrics.published = 1_234_567_890;
        await route.fulfill({ response: res, json: body });
      });
      const value = (label: string) =>
        page.getByRole('region', { name: label, exact: true }).locator('.stat-value');
      await until(
        'the large counts',
        async () => (await value('Published').textContent()) === '1,234,567,890',
        5000,
      );
      await expect(value('Dead letters').textContent()).resolves.toBe('1,234,567');
      await expect(value('Pending').textContent()).resolves.toBe('98,765,432');
      for (const label of ['Published', 'Dead letters', 'Pending']) {
        // Drawn whole inside the card: not cut off under the next one.
        const [card, figure] = await Promise.all([
          page.getByRole('region', { name: label, exact: true }).boundingBox(),
          value(label).evaluate((el) => {
            const r = el.ownerDocument.createRange();
            r.selectNodeContents(el);
            const box = r.getBoundingClientRect();
            return { x: box.x, width: box.width };
          }),
        ]);
        expect(figure.x + figure.width, label).toBeLessThanOrEqual(card!.x + card!.width);
      }
      await screenshot(page, 'incident-large-counts');

      let answer: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        answer = resolve;
      });
      await page.route('**/evco/dead-letters?*', async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(`${open.url}/evco/dashboard/#/dead-letters`);
      const deadLetters = page.getByRole('region', { name: 'Dead letters' });
      await deadLetters.getByText('Loading…').waitFor();
      await expect(deadLetters.getByRole('table').count()).resolves.toBe(0);
      answer();
      await deadLetters.getByRole('table').locator('tbody tr').first().waitFor();
    });

    it('unknown is not zero or current: "?" dead letters while the store does not count, the last status marked stale when the server is gone', async () => {
      const { page } = await tab(open, '');
      const nav = page
        .getByRole('navigation', { name: 'Dashboard' })
        .getByRole('link', { name: /Dead letters/ });
      await expect(nav.textContent()).resolves.toBe(`Dead letters${ORDERS}`);
      // The store answers, but not its counts query: the server sends nulls and says so.
      await page.route('**/evco/status', async (route) => {
        const res = await route.fetch();
        const body = await res.json();
        body.fleetStats = { available: false };
        for (const k of ['dead', 'pending', 'unprocessed', 'orphaned', 'lagMs']) body.counts[k] = null;
        await route.fulfill({ response: res, json: body });
      });
      await until('the "?" badge', async () => (await nav.textContent())?.includes('?'), 5000);
      await expect(nav.textContent()).resolves.toBe('Dead letters? (count unknown)');

      // Now the server stops answering: the last figures stay, but not as if they were current.
      await page.unroute('**/evco/status');
      await page.route('**/evco/status', (route) => route.abort('connectionrefused'));
      const stale = page.getByRole('alert').filter({ hasText: 'below is the last one' });
      await stale.waitFor({ timeout: 5000 });
      const facts = page.locator('.facts');
      await expect(facts.textContent()).resolves.toMatch(/store memory\s+unknown/);
      await expect(
        page.getByRole('region', { name: 'Published/s', exact: true }).locator('.stat-value').textContent(),
      ).resolves.toBe('—');
      await screenshot(page, 'incident-server-gone');
    });

    it('with the admin routes off, the header, dead letters and replay say so (ADMIN_DISABLED) instead of offering what would fail', async () => {
      adminOff ??= await incident({ adminOff: true });
      const { page, errors } = await tab(adminOff, '#/dead-letters');
      await expect(page.getByRole('status', { name: 'Admin routes' }).textContent()).resolves.toBe(
        'admin routes off',
      );
      await expect(page.getByRole('textbox', { name: 'Admin token' }).count()).resolves.toBe(0);
      const note = page.getByRole('note', { name: 'Admin routes off' });
      await note.waitFor();
      await expect(note.textContent()).resolves.toMatch(
        /ADMIN_DISABLED.*retrying dead letters is not available.*EVCO_ADMIN_TOKEN/,
      );
      const row = page.getByRole('row', { name: `OrderPlaced for ${LONG_HANDLER}` }).first();
      await row.waitFor();
      await expect(row.getByRole('button', { name: /^Retry / }).isDisabled()).resolves.toBe(true);
      await expect(page.getByRole('button', { name: 'Retry all' }).isDisabled()).resolves.toBe(true);
      await screenshot(page, 'incident-admin-off-dead-letters');

      const replay = await tab(adminOff, '#/replay');
      const replayNote = replay.page.getByRole('note', { name: 'Admin routes off' });
      await replayNote.waitFor();
      await expect(replayNote.textContent()).resolves.toMatch(/starting a replay is not available/);
      await expect(replay.page.getByRole('button', { name: 'Start replay' }).isDisabled()).resolves.toBe(
        true,
      );
      await screenshot(replay.page, 'incident-admin-off-replay');

      // protectReads with the admin routes off: the reads answer ADMIN_DISABLED too, explained as such.
      const closed = await incident({ adminOff: true, protectReads: true });
      try {
        const events = await tab(closed, '#/events');
        const alert = events.page.getByRole('alert').filter({ hasText: 'ADMIN_DISABLED' });
        await alert.waitFor();
        await expect(alert.textContent()).resolves.toMatch(
          /Could not search the events: admin routes are off.*EVCO_ADMIN_TOKEN.*No admin token helps/,
        );
        await screenshot(events.page, 'incident-admin-off-protected-reads');
        expect(events.errors).toEqual([]);
      } finally {
        await closed.app.close();
      }
      expect([...errors, ...replay.errors]).toEqual([]);
    });

    it("an unfiltered history's pruned note shows on the page that reaches back to the pruned range, not on every page", async () => {
      adminOff ??= await incident({ adminOff: true });
      // More recent events than one page (50), newest first: the first page stays in recent days.
      await adminOff.coordinator.publishEvents(
        Array.from({ length: 60 }, (_, i) => ({
          eventType: 'PageFiller',
          aggregateId: randomUUID(),
          eventData: { i },
        })),
      );
      const { page, errors } = await tab(adminOff, '#/events');
      const rows = page.getByRole('table', { name: 'Events' }).locator('tbody tr');
      await until('a full first page', async () => (await rows.count()) === 50, 10_000);
      const note = page.getByRole('note').filter({ hasText: 'Retention removed' });
      await expect(note.count()).resolves.toBe(0);
      await screenshot(page, 'incident-events-first-page');
      await page.getByRole('button', { name: 'Next page' }).click();
      await note.waitFor();
      await expect(note.textContent()).resolves.toMatch(/AuditLogEntryRecorded that occurred before/);
      expect(await rows.count()).toBeLessThan(50);
      await screenshot(page, 'incident-events-last-page');
      expect(errors).toEqual([]);
    });
  },
);
