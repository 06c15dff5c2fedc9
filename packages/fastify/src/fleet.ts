/**
 * The fleet as the status view shows it: every subscription in the store, and the coordinators
 * that renew them (a coordinator renews all of its subscriptions together, so `lastSeenBy`
 * groups them by process).
 */
import type { SubscriptionStatus } from '@evco/core';

export interface FleetMember {
  coordinatorId: string;
  /** This process. */
  self: boolean;
  lastSeenAt: Date;
  /** The latest expiry of the subscriptions it renews: past it, nobody has heard from it. */
  expiresAt: Date;
  /** Every subscription it renews expired (by the server's clock): the process is gone. */
  expired: boolean;
  handlers: string[];
}

/** Coordinators that renewed a subscription, most recently seen first. */
export function fleetMembers(subscriptions: readonly SubscriptionStatus[], selfId: string): FleetMember[] {
  const byId = new Map<string, FleetMember>();
  for (const s of subscriptions) {
    const member = byId.get(s.lastSeenBy) ?? {
      coordinatorId: s.lastSeenBy,
      self: s.lastSeenBy === selfId,
      lastSeenAt: s.lastSeenAt,
      expiresAt: s.expiresAt,
      expired: true,
      handlers: [],
    };
    if (s.lastSeenAt > member.lastSeenAt) member.lastSeenAt = s.lastSeenAt;
    if (s.expiresAt > member.expiresAt) member.expiresAt = s.expiresAt;
    member.expired &&= s.expired;
    if (!member.handlers.includes(s.handler)) member.handlers.push(s.handler);
    byId.set(s.lastSeenBy, member);
  }
  return [...byId.values()]
    .map((m) => ({ ...m, handlers: m.handlers.sort() }))
    .sort((a, b) => b.lastSeenAt.getTime() - a.lastSeenAt.getTime());
}
