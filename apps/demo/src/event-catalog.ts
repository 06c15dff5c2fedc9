/**
 * The event types the demo accepts over HTTP: exactly the four modules' contracts. The evco
 * plugin checks each posted event against its `defineEvent` schema (`publish.eventTypes`), so a
 * client cannot publish an event no module declares, nor one whose data its module would refuse.
 */
import type { EventDefinition } from '@evco/core';
import { ContentDeleted, ContentModerationCompleted, ContentPublished } from '@evco/handlers-content/events';
import { SubscriptionActivated, SubscriptionExpired } from '@evco/handlers-subscription/events';
import { UserLoggedIn, UserRegistered, UserStatusChanged } from '@evco/handlers-user/events';
import {
  WorkflowExecutionCompleted,
  WorkflowExecutionFailed,
  WorkflowExecutionStarted,
} from '@evco/handlers-workflow/events';

export type AnyEventDefinition = EventDefinition<string, object>;

/** Which module owns (publishes) which event types. */
export const MODULE_EVENTS: Readonly<Record<string, readonly AnyEventDefinition[]>> = {
  user: [UserRegistered, UserStatusChanged, UserLoggedIn],
  subscription: [SubscriptionActivated, SubscriptionExpired],
  workflow: [WorkflowExecutionStarted, WorkflowExecutionCompleted, WorkflowExecutionFailed],
  content: [ContentPublished, ContentModerationCompleted, ContentDeleted],
};

/** Every accepted type, sorted. */
export const EVENT_TYPES: readonly string[] = Object.values(MODULE_EVENTS)
  .flatMap((definitions) => definitions.map((d) => d.eventType))
  .sort();

/** The module that publishes `eventType`, or `undefined` for a type no module declares. */
export function moduleOf(eventType: string): string | undefined {
  for (const [module, definitions] of Object.entries(MODULE_EVENTS)) {
    if (definitions.some((d) => d.eventType === eventType)) return module;
  }
  return undefined;
}
