export {
  SUBSCRIPTION_AGGREGATE,
  SubscriptionActivated,
  type SubscriptionActivatedData,
  SubscriptionExpired,
  type SubscriptionExpiredData,
  type SubscriptionPlan,
  subscriptionActivatedSchema,
  subscriptionExpiredSchema,
  subscriptionPlanSchema,
} from './events.js';
export {
  createSubscriptionHandlers,
  type ModuleHandlerOptions,
  registerSubscriptionHandlers,
  type SubscriptionModuleDeps,
  subscriptionHandlerNames,
  subscriptionReactions,
} from './handlers.js';
export { InMemorySubscriptionRepository } from './in-memory.js';
export type {
  NewSubscription,
  SubscriptionRecord,
  SubscriptionRepository,
  SubscriptionStatus,
} from './ports.js';
