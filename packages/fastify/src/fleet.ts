/**
 * The fleet as the status view shows it: every subscription in the store, and the coordinators
 * that renew them (a coordinator renews all of its subscriptions together, so `lastSeenBy`
 * groups them by process).
 */
import type { EventDrivenCoordinator, SubscriptionInfo } from '@evco/core';
import { adminMethod, hasAdminMethod } from './admin-api.js';

export type FleetSubscription = SubscriptionInfo & { local?: boolean; expired?: boolean };

export async function listSubscriptions(coordinator: EventDrivenCoordinator): Promise<FleetSubscription[]> {
  if (hasAdminMethod(coordinator, 'listSubscriptions'))
    return adminMethod(coordinator, 'listSubscriptions')();
  const now = Date.now();
  return (await coordinator.eventStore.listSubscriptions()).map((s) => ({
    ...s,
    expired: s.expiresAt.getTime() <= now,
  }));
}

export interface FleetMember {
  coordinatorId: string;
  /** This process. */
  self: boolean;
  lastSeenAt: Date;
  handlers: string[];
}

/** Coordinators that renewed a subscription, most recently seen first. */
export function fleetMembers(subscriptions: readonly FleetSubscription[], selfId: string): FleetMember[] {
  const byId = new Map<string, FleetMember>();
  for (const s of subscriptions) {
    const member = byId.get(s.lastSeenBy) ?? {
      coordinatorId: s.lastSeenBy,
      self: s.lastSeenBy === selfId,
      lastSeenAt: s.lastSeenAt,
      handlers: [],
    };
    if (s.lastSeenAt > member.lastSeenAt) member.lastSeenAt = s.lastSeenAt;
    if (!member.handlers.includes(s.handler)) member.handlers.push(s.handler);
    byId.set(s.lastSeenBy, member);
  }
  return [...byId.values()]
    .map((m) => ({ ...m, handlers: m.handlers.sort() }))
    .sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime());
}
