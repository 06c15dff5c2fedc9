/**
 * The coordinator's admin methods the routes use beyond the classic ones (event details with
 * the causation tree, background replays with progress, the fleet's subscriptions). Reached
 * through one function so an older core without them answers 501 instead of crashing.
 */
import type { EventDrivenCoordinator, ReplayOptions, SubscriptionInfo } from '@evco/core';
import type { EventDetailsLike, ReplayProgressLike } from './dto.js';
import { ApiError } from './errors.js';

export interface AdminMethods {
  getEventDetails(id: string): Promise<EventDetailsLike | undefined>;
  startReplay(options: ReplayOptions): Promise<ReplayProgressLike>;
  getReplay(id: string): Promise<ReplayProgressLike | undefined>;
  listSubscriptions(): Promise<Array<SubscriptionInfo & { local?: boolean; expired?: boolean }>>;
}

export function adminMethod<K extends keyof AdminMethods>(
  coordinator: EventDrivenCoordinator,
  name: K,
): AdminMethods[K] {
  const method = (coordinator as unknown as Partial<AdminMethods>)[name];
  if (typeof method !== 'function') {
    throw new ApiError(501, 'NOT_IMPLEMENTED', `this version of @evco/core has no ${name}(); upgrade it`);
  }
  return method.bind(coordinator) as AdminMethods[K];
}

/** Whether the coordinator has the method (optional extras of a response). */
export function hasAdminMethod(coordinator: EventDrivenCoordinator, name: keyof AdminMethods): boolean {
  return typeof (coordinator as unknown as Partial<AdminMethods>)[name] === 'function';
}
