import { randomUUID } from 'node:crypto';
import type { EventDrivenCoordinator } from '@evco/core';
import { type UserStatus, UserStatusChanged } from '@evco/handlers-user/events';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { createTestCoordinator, fastRetry, replayAll, validationIssuePaths } from '@evco/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ContentDeleted,
  ContentModerationCompleted,
  ContentPublished,
  contentHandlerNames,
  InMemoryContentRepository,
  InMemoryModerationService,
  InMemoryNotifier,
  type Notifier,
  registerContentHandlers,
} from '../src/index.js';

const memoryCoordinator = () =>
  createTestCoordinator({ store: createMemoryStore, publisher: createInProcPublisher });

let coordinator: EventDrivenCoordinator;
let contents: InMemoryContentRepository;
let moderation: InMemoryModerationService;
let notifier: InMemoryNotifier;
const authorId = randomUUID();

async function start(deps: { notifier?: Notifier } = {}) {
  await registerContentHandlers(
    coordinator,
    { contents, moderation, notifier: deps.notifier ?? notifier },
    fastRetry,
  );
}

beforeEach(async () => {
  coordinator = await memoryCoordinator();
  contents = new InMemoryContentRepository();
  moderation = new InMemoryModerationService({ blockedWords: ['casino'] });
  notifier = new InMemoryNotifier();
});

afterEach(async () => {
  await coordinator.shutdown();
});

function published(title: string, author = authorId) {
  const contentId = randomUUID();
  return ContentPublished.create({
    aggregateId: contentId,
    data: { contentId, authorId: author, title },
    occurredAt: '2024-05-05T18:30:00+02:00',
  });
}

function statusChanged(previousStatus: UserStatus, newStatus: UserStatus) {
  return UserStatusChanged.create({
    aggregateId: authorId,
    data: { userId: authorId, previousStatus, newStatus },
  });
}

describe('content module reactions', () => {
  it('ContentPublished is recorded and moderated; an approval keeps it visible', async () => {
    await start();
    const post = published('How we cut our build times');
    await coordinator.publishEvent(post);
    await coordinator.waitForIdle();

    expect(await contents.get(post.eventData.contentId)).toEqual({
      contentId: post.eventData.contentId,
      authorId,
      title: 'How we cut our build times',
      publishedAt: '2024-05-05T16:30:00.000Z',
      visibility: 'visible',
      moderation: 'approved',
      moderationReason: null,
    });
    const outcomes = await coordinator.getEventHistory({ eventType: 'ContentModerationCompleted' });
    expect(outcomes.map((e) => [e.aggregateId, e.eventData, e.metadata.causationId])).toEqual([
      [post.eventData.contentId, { contentId: post.eventData.contentId, decision: 'approved' }, post.id],
    ]);
    expect(moderation.reviews).toBe(1);
    expect(notifier.list()).toEqual([]);
  });

  it('a rejection hides the content and tells the author why', async () => {
    await start();
    const post = published('Best casino bonuses');
    await coordinator.publishEvent(post);
    await coordinator.waitForIdle();

    expect(await contents.get(post.eventData.contentId)).toMatchObject({
      visibility: 'hidden',
      moderation: 'rejected',
      moderationReason: 'the title contains the blocked word "casino"',
    });
    expect(notifier.list()).toEqual([
      {
        userId: authorId,
        topic: 'content.rejected',
        message:
          '"Best casino bonuses" was hidden by moderation: the title contains the blocked word "casino".',
      },
    ]);
  });

  it('banning the author unpublishes their visible content, and only theirs', async () => {
    await start();
    const approved = published('Release notes');
    const rejected = published('casino night');
    const someoneElses = published('Release notes', randomUUID());
    await coordinator.publishEvents([approved, rejected, someoneElses]);
    await coordinator.waitForIdle();
    await coordinator.publishEvent(statusChanged('active', 'banned'));
    await coordinator.waitForIdle();

    expect(contents.list().map((c) => [c.contentId, c.visibility])).toEqual([
      [approved.eventData.contentId, 'unpublished'],
      [rejected.eventData.contentId, 'hidden'],
      [someoneElses.eventData.contentId, 'visible'],
    ]);
  });

  it('suspending the author leaves their content up', async () => {
    await start();
    await coordinator.publishEvent(published('Release notes'));
    await coordinator.waitForIdle();
    await coordinator.publishEvent(statusChanged('active', 'suspended'));
    await coordinator.waitForIdle();
    expect(contents.list().map((c) => c.visibility)).toEqual(['visible']);
  });

  it('ContentDeleted cleans the content up, and a late re-delivery of its publication does not bring it back', async () => {
    await start();
    const post = published('Release notes');
    const { contentId } = post.eventData;
    await coordinator.publishEvent(post);
    await coordinator.waitForIdle();
    await coordinator.publishEvent(
      ContentDeleted.create({ aggregateId: contentId, data: { contentId, authorId, deletedBy: authorId } }),
    );
    await coordinator.waitForIdle();
    expect(contents.list()).toEqual([]);

    await replayAll(coordinator, contentHandlerNames.recordPublication);
    expect(contents.list()).toEqual([]);
    expect(contents.isPurged(contentId)).toBe(true);
  });

  it('a rejection of content deleted meanwhile notifies nobody', async () => {
    await start();
    const contentId = randomUUID();
    await contents.add({ contentId, authorId, title: 'casino', publishedAt: '2024-05-05T00:00:00Z' });
    await contents.purge(contentId);
    await coordinator.publishEvent(
      ContentModerationCompleted.create({
        aggregateId: contentId,
        data: { contentId, decision: 'rejected', reason: 'gambling' },
      }),
    );
    await coordinator.waitForIdle();
    expect(notifier.list()).toEqual([]);
    expect(await coordinator.getDeadLetters()).toEqual([]);
  });
});

describe('content module idempotency', () => {
  it('re-delivering every event (replay) reviews, notifies, publishes and changes nothing twice', async () => {
    await start();
    await coordinator.publishEvents([published('Release notes'), published('casino night')]);
    await coordinator.waitForIdle();
    await coordinator.publishEvent(statusChanged('active', 'banned'));
    await coordinator.waitForIdle();
    const state = {
      contents: contents.list(),
      notifications: notifier.list(),
      events: await coordinator.getEventHistory(),
    };
    expect(moderation.reviews).toBe(2);

    await replayAll(coordinator);
    expect({
      contents: contents.list(),
      notifications: notifier.list(),
      events: await coordinator.getEventHistory(),
    }).toEqual(state);
    expect(moderation.reviews).toBe(2);
    expect(await coordinator.getDeadLetters()).toEqual([]);
  });

  it('a notifier failing after the decision was recorded is retried, and the author hears it once', async () => {
    let failures = 0;
    await start({
      notifier: {
        notify: async (notification, key) => {
          if (failures++ === 0) throw new Error('mail API returned 503');
          return notifier.notify(notification, key);
        },
      },
    });
    await coordinator.publishEvent(published('casino night'));
    await coordinator.waitForIdle();
    expect(failures).toBe(2);
    expect(notifier.list()).toHaveLength(1);
    expect(contents.list().map((c) => c.visibility)).toEqual(['hidden']);
  });
});

describe('content module contracts', () => {
  const contentId = randomUUID();
  const invalid: Array<[string, () => unknown, string]> = [
    [
      'a blank title',
      () => ContentPublished.create({ aggregateId: contentId, data: { contentId, authorId, title: '   ' } }),
      'eventData.title',
    ],
    [
      'an unknown field',
      () =>
        ContentPublished.create({
          aggregateId: contentId,
          data: { contentId, authorId, title: 'x', body: 'y' } as never,
        }),
      'eventData',
    ],
    [
      'an unknown decision',
      () =>
        ContentModerationCompleted.create({
          aggregateId: contentId,
          data: { contentId, decision: 'escalated' as never },
        }),
      'eventData.decision',
    ],
    [
      'a rejection without a reason',
      () =>
        ContentModerationCompleted.create({
          aggregateId: contentId,
          data: { contentId, decision: 'rejected' },
        }),
      'eventData.reason',
    ],
    [
      'a deletedBy that is not a UUID',
      () =>
        ContentDeleted.create({ aggregateId: contentId, data: { contentId, authorId, deletedBy: 'admin' } }),
      'eventData.deletedBy',
    ],
  ];

  it.each(invalid)('rejects %s with an EventValidationError naming the field', (_name, create, path) => {
    expect(validationIssuePaths(create)).toContain(path);
  });

  it('an invalid ContentPublished from an untyped publisher goes to the dead letters and is never moderated', async () => {
    await start();
    const { eventId } = await coordinator.publishEvent({
      eventType: 'ContentPublished',
      aggregateId: contentId,
      eventData: { contentId, authorId: 'someone', title: 'Hello' },
    });
    await coordinator.waitForIdle();
    const dead = await coordinator.getDeadLetters();
    expect(dead.map((d) => [d.event.id, d.delivery.handler, d.delivery.attempts]).sort()).toEqual(
      [
        [eventId, contentHandlerNames.recordPublication, 1],
        [eventId, contentHandlerNames.requestModerationOnContentPublished, 1],
      ].sort(),
    );
    expect(dead.every((d) => d.delivery.lastError?.includes('eventData.authorId'))).toBe(true);
    expect(contents.list()).toEqual([]);
    expect(moderation.reviews).toBe(0);
  });
});
