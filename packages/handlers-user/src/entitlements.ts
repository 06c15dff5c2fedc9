import type { Plan } from './subscription-events.js';

/** What a user may do; other modules learn about it through the user's plan, not by asking. */
export interface Entitlements {
  readonly workflowRunsPerMonth: number;
  readonly publishedContentLimit: number;
}

export const NO_ENTITLEMENTS: Entitlements = Object.freeze({
  workflowRunsPerMonth: 0,
  publishedContentLimit: 0,
});

const BY_PLAN: Readonly<Record<Plan, Entitlements>> = Object.freeze({
  trial: Object.freeze({ workflowRunsPerMonth: 100, publishedContentLimit: 10 }),
  basic: Object.freeze({ workflowRunsPerMonth: 1_000, publishedContentLimit: 100 }),
  pro: Object.freeze({ workflowRunsPerMonth: 10_000, publishedContentLimit: 1_000 }),
});

export function entitlementsFor(plan: Plan | null): Entitlements {
  return plan === null ? NO_ENTITLEMENTS : BY_PLAN[plan];
}
