/**
 * What an app merges into its `@fastify/swagger` setup so the OpenAPI document describes the evco
 * routes: the zod → JSON Schema transform (the routes' schemas are zod) and the security scheme
 * the protected routes name.
 *
 *   await app.register(swagger, {
 *     openapi: { ..., tags: [evcoTag], components: { securitySchemes: evcoSecuritySchemes } },
 *     transform: evcoOpenApiTransform,
 *     transformObject: evcoOpenApiTransformObject,
 *   });
 */

/** The scheme protected evco routes reference (`security: [{ evcoAuth: [] }]`). */
export const EVCO_SECURITY_SCHEME = 'evcoAuth';

/** Spread into `openapi.components.securitySchemes`. */
export const evcoSecuritySchemes = {
  [EVCO_SECURITY_SCHEME]: {
    type: 'http' as const,
    scheme: 'bearer',
    description: "The plugin's auth check (bearerToken: Authorization: Bearer <token>)",
  },
};

/** Add to `openapi.tags`. */
export const evcoTag = {
  name: 'evco',
  description: 'Event coordination: status, history, dead letters, replays',
};

export {
  /** `@fastify/swagger`'s `transform`: turns the zod schemas of evco's routes (and any others) into JSON Schema. */
  jsonSchemaTransform as evcoOpenApiTransform,
  /** `@fastify/swagger`'s `transformObject`: adds the named schemas (the recursive causation tree) to the components. */
  jsonSchemaTransformObject as evcoOpenApiTransformObject,
} from 'fastify-type-provider-zod';
