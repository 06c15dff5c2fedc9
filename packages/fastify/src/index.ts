export { bearerToken } from './auth.js';
export { DASHBOARD_CSP, findDashboardAssets } from './dashboard.js';
export { ApiError, type ErrorBody, evcoErrorHandler, evcoNotFoundHandler, publicMessage } from './errors.js';
export {
  EVCO_SECURITY_SCHEME,
  evcoOpenApiTransform,
  evcoOpenApiTransformObject,
  evcoSecuritySchemes,
  evcoTag,
} from './openapi.js';
export type {
  AuthCheck,
  CoordinatorFactory,
  EvcoPluginOptions,
  EventTypeList,
  PublishRouteOptions,
} from './options.js';
export { evcoPlugin } from './plugin.js';
