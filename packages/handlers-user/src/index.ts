export { type Entitlements, entitlementsFor, NO_ENTITLEMENTS } from './entitlements.js';
export {
  USER_AGGREGATE,
  UserLoggedIn,
  type UserLoggedInData,
  UserRegistered,
  type UserRegisteredData,
  type UserStatus,
  UserStatusChanged,
  type UserStatusChangedData,
  userLoggedInSchema,
  userRegisteredSchema,
  userStatusChangedSchema,
  userStatusSchema,
} from './events.js';
export {
  createUserHandlers,
  type ModuleHandlerOptions,
  registerUserHandlers,
  type UserModuleDeps,
  userHandlerNames,
  userReactions,
} from './handlers.js';
export { InMemoryUserDirectory } from './in-memory.js';
export {
  type NewUser,
  UnknownUserError,
  type UserDirectory,
  type UserLogin,
  type UserRecord,
  type UserSubscription,
} from './ports.js';
export {
  type Plan,
  planSchema,
  SubscriptionActivatedView,
  SubscriptionExpiredView,
} from './subscription-events.js';
