import type { EventDrivenCoordinator } from '@evco/core';
import type { DemoConfig } from '../config.js';
import type { EventCatalog } from '../event-catalog.js';

/** What every route group needs from the app. */
export interface RouteContext {
  config: DemoConfig;
  catalog: EventCatalog;
  /** The running coordinator; throws `ApiError` 503 before start and after shutdown began. */
  coordinator(): EventDrivenCoordinator;
  startedAt: Date;
}
