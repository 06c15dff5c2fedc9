import { fleetSection } from './fleet.js';
import type { BenchSection } from './harness.js';
import { memorySection } from './memory.js';
import { opentelemetrySection } from './opentelemetry.js';
import { postgresSection } from './postgres.js';
import { postgresAppendSection } from './postgres-append.js';
import { postgresCostSection } from './postgres-cost.js';
import { postgresDayPruneSection } from './postgres-day-prune.js';
import { postgresDesignSection } from './postgres-design.js';
import { postgresE2eProbeSection } from './postgres-e2e-probe.js';
import { postgresLadderSection } from './postgres-ladder.js';
import { postgresPruneProbeSection } from './postgres-prune-probe.js';
import { redisSection } from './redis.js';
import { scaleSection } from './scale.js';
import { sqliteSection } from './sqlite.js';
import { sqlitePruneCostSection } from './sqlite-prune-cost.js';

/** Every benchmark section, in the order `pnpm bench` runs them. Add yours here. */
export const sections: BenchSection[] = [
  memorySection,
  sqliteSection,
  redisSection,
  postgresSection,
  postgresCostSection,
  postgresDesignSection,
  postgresAppendSection,
  postgresLadderSection,
  postgresE2eProbeSection,
  fleetSection,
  opentelemetrySection,
  scaleSection,
  sqlitePruneCostSection,
  postgresPruneProbeSection,
  postgresDayPruneSection,
];
