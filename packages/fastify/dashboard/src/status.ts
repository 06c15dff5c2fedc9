/**
 * The status reply, reduced to what the overview draws. Pure functions: they accept the plugin's
 * shape and tolerate older or partial ones (counts under `counts` or `metrics`, subscriptions
 * under `subscriptions` or `fleet`), so the page degrades instead of breaking.
 */

export interface HandlerRow {
  name: string;
  eventTypes: string[];
  local: boolean | undefined;
  pending: number;
  running: number;
  dead: number;
  orphaned: number;
  lagMs: number | undefined;
  lastError: string | undefined;
  /** The latest expiry of its subscriptions; past it, nobody runs the handler any more. */
  subscriptionExpiresAt: string | undefined;
}

export interface CoordinatorRow {
  id: string;
  handlers: number;
  lastSeenAt: string | undefined;
  expiresAt: string | undefined;
  /** Gone: none of its subscriptions was renewed in time (the server's verdict, when it sends one). */
  expired: boolean | undefined;
  /** This process answered the status call. */
  self: boolean;
}

export interface SubscriptionRow {
  handler: string;
  eventType: string;
  ordering: string | undefined;
  lastSeenBy: string | undefined;
  lastSeenAt: string | undefined;
  expiresAt: string | undefined;
  /** Nobody renewed it in time: it gets no new deliveries. */
  expired: boolean | undefined;
}

export interface Totals {
  published: number | undefined;
  handled: number | undefined;
  failed: number | undefined;
  dead: number | undefined;
  pending: number | undefined;
  unprocessed: number | undefined;
  inFlight: number | undefined;
  lagMs: number | undefined;
}

export interface Adapter {
  name: string;
  healthy: boolean | undefined;
  detail: string | undefined;
}

export interface StatusView {
  id: string | undefined;
  state: string | undefined;
  startedAt: string | undefined;
  lastPosition: string | undefined;
  totals: Totals;
  handlers: HandlerRow[];
  coordinators: CoordinatorRow[];
  subscriptions: SubscriptionRow[];
  store: Adapter | undefined;
  publisher: Adapter | undefined;
  /**
   * The store did not answer this status: the fleet's figures (pending, dead, unprocessed, lag,
   * the handlers' columns, the subscriptions) are unknown. The server reports them as 0, which
   * must not be drawn as an idle fleet with no dead letters.
   */
  fleetUnknown: boolean;
  /**
   * The store answered but not its counts query (`fleetStats.available: false`, a statement
   * timeout): the figures are unknown (null from the server) while the store is healthy.
   * `statsError` is the reason, sent to an authorized request only.
   */
  statsUnavailable: boolean;
  statsError: string | undefined;
  /**
   * Whether the server's admin routes are on; off, retrying and replaying answer 404
   * ADMIN_DISABLED and no token helps. A server that does not say is taken as on.
   */
  adminRoutes: { enabled: boolean; hint: string | undefined };
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function adapter(v: unknown): Adapter | undefined {
  const a = obj(v);
  if (!a) return undefined;
  const health = obj(a.health);
  const details = obj(health?.details);
  return {
    name: str(a.name) ?? str(a.kind) ?? '?',
    healthy: typeof health?.healthy === 'boolean' ? health.healthy : undefined,
    detail: str(details?.error),
  };
}

function handlerRow(v: unknown): HandlerRow | undefined {
  const h = obj(v);
  const name = str(h?.name) ?? str(h?.handler);
  if (!h || name === undefined) return undefined;
  const lastError = obj(h.lastError);
  return {
    name,
    eventTypes: arr(h.eventTypes).filter((t): t is string => typeof t === 'string'),
    local: typeof h.local === 'boolean' ? h.local : undefined,
    pending: num(h.pending) ?? 0,
    running: num(h.running) ?? 0,
    dead: num(h.dead) ?? 0,
    orphaned: num(h.orphaned) ?? 0,
    lagMs: num(h.lagMs),
    // Either the message itself or `{ message | error, at }`.
    lastError: str(h.lastError) ?? str(lastError?.message) ?? str(lastError?.error),
    subscriptionExpiresAt: str(h.subscriptionExpiresAt),
  };
}

function subscriptionRow(v: unknown): SubscriptionRow | undefined {
  const s = obj(v);
  const handler = str(s?.handler) ?? str(s?.name);
  if (!s || handler === undefined) return undefined;
  return {
    handler,
    eventType: str(s.eventType) ?? '',
    ordering: str(s.ordering),
    lastSeenBy: str(s.lastSeenBy) ?? str(s.coordinatorId),
    lastSeenAt: str(s.lastSeenAt),
    expiresAt: str(s.expiresAt),
    expired: typeof s.expired === 'boolean' ? s.expired : undefined,
  };
}

/** Latest of two ISO times (either may be missing). */
function later(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/** The fleet's coordinators as seen through the subscriptions they renew. */
export function coordinatorsOf(
  subscriptions: SubscriptionRow[],
  selfId: string | undefined,
): CoordinatorRow[] {
  const byId = new Map<string, CoordinatorRow & { names: Set<string> }>();
  for (const s of subscriptions) {
    if (!s.lastSeenBy) continue;
    const row = byId.get(s.lastSeenBy) ?? {
      id: s.lastSeenBy,
      handlers: 0,
      lastSeenAt: undefined,
      expiresAt: undefined,
      expired: undefined,
      self: s.lastSeenBy === selfId,
      names: new Set<string>(),
    };
    row.names.add(s.handler);
    row.handlers = row.names.size;
    row.lastSeenAt = later(row.lastSeenAt, s.lastSeenAt);
    row.expiresAt = later(row.expiresAt, s.expiresAt);
    byId.set(s.lastSeenBy, row);
  }
  return [...byId.values()]
    .map(({ names: _names, ...row }) => row)
    .sort((a, b) => Number(b.self) - Number(a.self) || a.id.localeCompare(b.id));
}

/**
 * Coordinators whose expiry the status did not give get the latest expiry of the subscriptions
 * they renew: past it, nobody has heard from them.
 */
export function withExpiry(
  coordinators: CoordinatorRow[],
  subscriptions: SubscriptionRow[],
): CoordinatorRow[] {
  return coordinators.map((c) => {
    if (c.expiresAt !== undefined) return c;
    const expiresAt = subscriptions
      .filter((s) => s.lastSeenBy === c.id)
      .reduce<string | undefined>((max, s) => later(max, s.expiresAt), undefined);
    return { ...c, expiresAt };
  });
}

/** Subscriptions from the status or from `GET {prefix}/handlers`. */
export function toSubscriptionRows(list: unknown): SubscriptionRow[] {
  return arr(list)
    .map(subscriptionRow)
    .filter((r): r is SubscriptionRow => r !== undefined);
}

export function toStatusView(reply: unknown): StatusView {
  const root = obj(reply) ?? {};
  // The plugin sends the coordinator's status at the top level; the older demo nested it.
  const s = obj(root.coordinator) && !root.handlers ? (obj(root.coordinator) as Json) : root;
  // `counts` has the fleet's figures (dead, pending, lag) next to this process's counters;
  // `metrics` only this process's (its `dead` is what died here), so it is only the fallback.
  const counts = { ...obj(s.metrics), ...obj(s.counts) };
  const fleet = obj(s.fleet);
  const subscriptions = toSubscriptionRows([...arr(s.subscriptions), ...arr(fleet?.subscriptions)]);
  const id = str(s.id);
  // Coordinators: `fleet` as a list of members, or `fleet.coordinators`.
  const listed = [...(Array.isArray(s.fleet) ? s.fleet : []), ...arr(fleet?.coordinators)]
    .map((c): CoordinatorRow | undefined => {
      const o = obj(c);
      const cid = str(o?.coordinatorId) ?? str(o?.id);
      if (!o || cid === undefined) return undefined;
      return {
        id: cid,
        handlers: num(o.handlers) ?? arr(o.handlers).length,
        lastSeenAt: str(o.lastSeenAt),
        expiresAt: str(o.expiresAt),
        expired: typeof o.expired === 'boolean' ? o.expired : undefined,
        self: typeof o.self === 'boolean' ? o.self : cid === id,
      };
    })
    .filter((c): c is CoordinatorRow => c !== undefined);
  const store = adapter(s.store);
  const fleetStats = obj(s.fleetStats);
  const statsUnavailable = store?.healthy !== false && fleetStats?.available === false;
  const fleetUnknown = store?.healthy === false || statsUnavailable;
  const fleetFigure = (v: unknown) => (fleetUnknown ? undefined : num(v));
  return {
    id,
    state: str(s.state),
    startedAt: str(s.startedAt),
    lastPosition: fleetUnknown ? undefined : (str(s.lastPosition) ?? undefined),
    totals: {
      published: num(counts.published),
      handled: num(counts.handled),
      failed: num(counts.failed),
      dead: fleetFigure(counts.dead),
      pending: fleetFigure(counts.pending),
      unprocessed: fleetFigure(counts.unprocessed),
      inFlight: num(counts.inFlight),
      lagMs: fleetUnknown ? undefined : (num(counts.lagMs) ?? num(s.lagMs)),
    },
    handlers: arr(s.handlers)
      .map(handlerRow)
      .filter((h): h is HandlerRow => h !== undefined),
    coordinators: listed.length > 0 ? listed : coordinatorsOf(subscriptions, id),
    subscriptions,
    store,
    publisher: adapter(s.publisher),
    fleetUnknown,
    statsUnavailable,
    statsError: statsUnavailable ? str(fleetStats?.error) : undefined,
    adminRoutes: {
      enabled: obj(s.adminRoutes)?.enabled !== false,
      hint: str(obj(s.adminRoutes)?.hint),
    },
  };
}

/** Handlers nobody runs any more (every subscription expired): their pending deliveries wait for nothing. */
export function goneHandlers(handlers: readonly HandlerRow[], now: number): Set<string> {
  return new Set(
    handlers
      .filter((h) => h.subscriptionExpiresAt !== undefined && Date.parse(h.subscriptionExpiresAt) <= now)
      .map((h) => h.name),
  );
}

/** One poll's counters, for rates. */
export interface Sample {
  at: number;
  published: number;
  handled: number;
}

export interface Rates {
  published: number;
  handled: number;
}

/**
 * Events per second between the oldest and newest sample within `windowMs`: smoother than the
 * last delta alone, still reacting within a poll or two. A counter that went down (the server
 * restarted) restarts the window.
 */
export function ratesOf(samples: readonly Sample[], windowMs = 5000): Rates | undefined {
  const last = samples[samples.length - 1];
  if (!last) return undefined;
  let first = last;
  for (let i = samples.length - 2; i >= 0; i--) {
    const s = samples[i]!;
    const next = samples[i + 1]!;
    if (s.published > next.published || s.handled > next.handled) break;
    if (last.at - s.at > windowMs) break;
    first = s;
  }
  const seconds = (last.at - first.at) / 1000;
  if (seconds <= 0) return undefined;
  return {
    published: (last.published - first.published) / seconds,
    handled: (last.handled - first.handled) / seconds,
  };
}

/** Per-poll rates for a sparkline: one value per consecutive pair, restarts counted as 0. */
export function rateSeries(samples: readonly Sample[], key: 'published' | 'handled'): number[] {
  const out: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const seconds = (b.at - a.at) / 1000;
    out.push(seconds > 0 && b[key] >= a[key] ? (b[key] - a[key]) / seconds : 0);
  }
  return out;
}

/** The last `points` values, padded with zeros in front so a young series grows from the right. */
export function lastMinute(series: readonly number[], points = 60): number[] {
  const tail = series.slice(-points);
  return [...Array.from({ length: points - tail.length }, () => 0), ...tail];
}
