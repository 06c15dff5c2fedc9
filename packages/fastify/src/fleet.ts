/**
 * The fleet as the status view shows it: every subscription in the store, and the coordinators
 * that renew them (a coordinator renews all of its subscriptions together, so `lastSeenBy`
 * groups them by process).
 */
import type { SubscriptionInfo } from '@evco/core';

export interface FleetMember {
  coordinatorId: string;
  /** This process. */
  self: boolean;
  lastSeenAt: Date;
  handlers: string[];
}

/** Coordinators that renewed a subscription, most recently seen first. */
export function fleetMembers(subscriptions: readonly SubscriptionInfo[], selfId: string): FleetMember[] {
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
