import type { EventDrivenCoordinator } from '@evco/core';
import type { FastifyRequest } from 'fastify';
import type { ResolvedOptions } from '../options.js';

/** What every route group needs from the plugin. */
export interface RouteContext {
  options: ResolvedOptions;
  /** The running coordinator; throws `ApiError` 503 once the app is closing. */
  coordinator(): EventDrivenCoordinator;
  /** `auth` accepted this request (for the privileged parts of public routes). */
  isAdmin(request: FastifyRequest): Promise<boolean>;
  /** `onRequest` hooks for protected routes and for read routes (empty when reads are public). */
  guards: {
    admin: (request: FastifyRequest) => Promise<void>;
    read: Array<(request: FastifyRequest) => Promise<void>>;
  };
}
