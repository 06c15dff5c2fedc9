import { ApiError, get } from '../api.js';
import { DataTable, Empty, ErrorBanner, Panel, Sparkline, Stat, Time } from '../components.js';
import { formatAgo, formatCount, formatDuration, formatRate, shortId } from '../format.js';
import { useNow, usePoll } from '../hooks.js';
import { handlerInsights, type UnprocessedJson } from '../insights.js';
import { href } from '../router.js';
import {
  type Adapter,
  type CoordinatorRow,
  lastMinute,
  type Rates,
  rateSeries,
  type Sample,
  type StatusView,
  toSubscriptionRows,
  withExpiry,
} from '../status.js';
import type { DeadLetterJson } from '../types.js';
import { Subscriptions } from './subscriptions.js';

/** How many open events and dead letters the per-handler lag and last error are read from. */
const INSIGHT_PAGE = 200;

function AdapterLine(props: { label: string; adapter: Adapter | undefined; stale: boolean }) {
  const a = props.adapter;
  if (!a) return null;
  const state = a.healthy === undefined || props.stale ? 'unknown' : a.healthy ? 'healthy' : 'unhealthy';
  return (
    <li>
      <span class="muted">{props.label}</span> <strong>{a.name}</strong>{' '}
      <span class={`dot dot-${state}`} aria-hidden="true" /> {state}
      {a.detail ? <span class="muted"> — {a.detail}</span> : null}
    </li>
  );
}

/** A coordinator's state: the server's verdict, else its expiry against this clock, else unknown. */
function coordinatorState(c: CoordinatorRow, now: number): 'alive' | 'gone' | 'unknown' {
  const gone = c.expired ?? (c.expiresAt === undefined ? undefined : Date.parse(c.expiresAt) <= now);
  return gone === undefined ? 'unknown' : gone ? 'gone' : 'alive';
}

export function Overview(props: {
  status: StatusView | undefined;
  /** Set while the server does not answer: why, and when the status shown was current. */
  stale: { error: Error; since: number } | undefined;
  rates: Rates | undefined;
  samples: Sample[];
}) {
  const now = useNow();
  // Subscriptions change slowly (renewals): every 5 s is enough.
  const handlersReply = usePoll((signal) => get<{ subscriptions?: unknown }>('handlers', signal), 5000, []);
  // Per-handler lag and last error are not in the status: read them off the oldest open events
  // and the dead letters (bounded pages; the status counts stay exact).
  const open = usePoll(
    async (signal) => {
      const [unprocessed, dead] = await Promise.all([
        get<{ events: UnprocessedJson[] }>(`unprocessed?limit=${INSIGHT_PAGE}`, signal),
        get<{ deadLetters: DeadLetterJson[] }>(`dead-letters?limit=${INSIGHT_PAGE}`, signal),
      ]);
      return { unprocessed: unprocessed.events ?? [], dead: dead.deadLetters ?? [] };
    },
    2000,
    [],
  );
  const s = props.status;
  if (!s) return <Empty>Waiting for the first status…</Empty>;
  const insights = handlerInsights(open.data?.unprocessed ?? [], open.data?.dead ?? [], now);
  const subscriptions = handlersReply.data
    ? toSubscriptionRows(handlersReply.data.subscriptions)
    : s.subscriptions;
  const coordinators = withExpiry(s.coordinators, subscriptions);
  const t = s.totals;
  const lagTone = (t.lagMs ?? 0) > 60_000 ? 'bad' : (t.lagMs ?? 0) > 5_000 ? 'warn' : undefined;
  // While the store does not answer, the fleet's figures are unknown, not zero: say so, and draw
  // dashes where the server's placeholder zeros would read as an idle fleet without dead letters.
  const unknown = s.fleetUnknown;
  const fleetCount = (n: number) => (unknown ? '—' : formatCount(n));
  const stale = props.stale !== undefined;
  // Rates are this moment's: from an old answer they are unknown, not the last ones.
  const rates = stale ? undefined : props.rates;
  // With `protectReads`, the lists behind the subscriptions and the last errors need the token.
  const needsToken = (e: Error | undefined) => e instanceof ApiError && e.status === 401;
  return (
    <div class={`stack ${stale ? 'stale' : ''}`}>
      {props.stale ? (
        <ErrorBanner
          error={props.stale.error}
          what={`Status unavailable: below is the last one, from ${formatAgo(new Date(props.stale.since).toISOString(), now)}; figures and health may have changed since.`}
        />
      ) : null}
      {unknown && s.statsUnavailable ? (
        <div class="banner bad" role="alert">
          The event store answers but did not count the fleet{s.statsError ? ` (${s.statsError})` : ''}:
          pending deliveries, dead letters, lag and handlers' figures are unknown until it does.
        </div>
      ) : unknown ? (
        <div class="banner bad" role="alert">
          The event store does not answer{s.store?.detail ? ` (${s.store.detail})` : ''}: pending deliveries,
          dead letters, lag, handlers' figures and subscriptions are unknown until it does.
        </div>
      ) : null}
      <div class="stats">
        <Stat label="Published/s" value={formatRate(rates?.published)} hint="this process, last 5 s" />
        <Stat label="Handled/s" value={formatRate(rates?.handled)} hint="this process, last 5 s" />
        <Stat label="Published" value={formatCount(t.published)} hint="this process since start" />
        <Stat label="Handled" value={formatCount(t.handled)} hint="this process since start" />
        <Stat label="Pending" value={formatCount(t.pending)} hint="deliveries, whole fleet" />
        <Stat label="In flight" value={formatCount(t.inFlight)} hint="running here now" />
        <Stat
          label="Dead letters"
          value={formatCount(t.dead)}
          hint="whole fleet"
          tone={(t.dead ?? 0) > 0 ? 'bad' : undefined}
        />
        <Stat label="Lag" value={formatDuration(t.lagMs)} hint="oldest open delivery" tone={lagTone} />
      </div>

      <Panel title="Throughput">
        <div class="throughput">
          <figure>
            <Sparkline
              values={lastMinute(rateSeries(props.samples, 'published'))}
              label="Published per second, last minute"
              width={240}
              height={44}
            />
            <figcaption>
              published/s, last minute (peak{' '}
              {formatRate(Math.max(0, ...rateSeries(props.samples, 'published').slice(-60)))})
            </figcaption>
          </figure>
          <figure>
            <Sparkline
              values={lastMinute(rateSeries(props.samples, 'handled'))}
              label="Handled per second, last minute"
              width={240}
              height={44}
            />
            <figcaption>
              handled/s, last minute (peak{' '}
              {formatRate(Math.max(0, ...rateSeries(props.samples, 'handled').slice(-60)))})
            </figcaption>
          </figure>
          <ul class="facts">
            <li>
              <span class="muted">coordinator</span> <span class="mono">{shortId(s.id)}</span>{' '}
              <strong>{s.state ?? '?'}</strong>, started <Time iso={s.startedAt} />
            </li>
            <li>
              <span class="muted">last position</span> <span class="mono">{s.lastPosition ?? '—'}</span>
              {' · '}
              <span class="muted">unprocessed events</span> {formatCount(t.unprocessed)}
              {' · '}
              <span class="muted">failed attempts</span> {formatCount(t.failed)}
            </li>
            <AdapterLine label="store" adapter={s.store} stale={stale} />
            <AdapterLine label="publisher" adapter={s.publisher} stale={stale} />
          </ul>
        </div>
      </Panel>

      <Panel title="Handlers">
        {needsToken(open.error) ? (
          <p class="muted">The last errors are read from the dead letters, which need the admin token.</p>
        ) : null}
        {s.handlers.length === 0 ? (
          <Empty>No handler is registered anywhere in the fleet.</Empty>
        ) : (
          <DataTable
            label="Handlers"
            columns={[
              { title: 'handler' },
              { title: 'event types' },
              { title: 'pending', num: true },
              { title: 'running', num: true },
              { title: 'dead', num: true },
              { title: 'orphaned', num: true },
              { title: 'lag', num: true },
              { title: 'last error' },
            ]}
          >
            {s.handlers.map((h) => {
              const insight = insights.get(h.name);
              // Nothing open, nothing to wait for: a dash reads better than a column of "0 ms".
              const lagMs = h.pending + h.running > 0 ? (h.lagMs ?? insight?.lagMs) : undefined;
              const lastError = h.lastError ?? insight?.lastError;
              return (
                <tr key={h.name} aria-label={h.name}>
                  <th scope="row" class="mono">
                    {h.name}
                    {h.local === false ? <span class="tag">remote</span> : null}
                  </th>
                  <td class="types">{h.eventTypes.join(', ')}</td>
                  <td class="num">{fleetCount(h.pending)}</td>
                  <td class="num">{fleetCount(h.running)}</td>
                  <td class={`num ${h.dead > 0 ? 'bad-text' : ''}`}>
                    {unknown ? (
                      '—'
                    ) : h.dead > 0 ? (
                      <a href={href.deadLetters(h.name)}>{formatCount(h.dead)}</a>
                    ) : (
                      '0'
                    )}
                  </td>
                  <td class={`num ${h.orphaned > 0 ? 'warn-text' : ''}`}>{fleetCount(h.orphaned)}</td>
                  <td class="num">{formatDuration(unknown ? undefined : lagMs)}</td>
                  <td class="error-cell">
                    {lastError ? (
                      <div class="clamp" title={lastError}>
                        {lastError}
                      </div>
                    ) : null}
                    {insight?.lastErrorAt && lastError ? (
                      <div class="muted">{formatAgo(insight.lastErrorAt, now)}</div>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </DataTable>
        )}
      </Panel>

      <Panel title="Fleet">
        {unknown && coordinators.length === 0 ? (
          <Empty>Unknown while the event store does not answer.</Empty>
        ) : coordinators.length === 0 ? (
          <Empty>No coordinator has renewed a subscription.</Empty>
        ) : (
          <DataTable
            label="Coordinators"
            columns={[
              { title: 'coordinator' },
              { title: 'handlers', num: true },
              { title: 'last seen' },
              { title: 'state' },
            ]}
          >
            {coordinators.map((c) => {
              const state = coordinatorState(c, now);
              return (
                <tr key={c.id}>
                  <th scope="row" class="mono" title={c.id}>
                    {shortId(c.id)}
                    {c.self ? <span class="tag">this process</span> : null}
                  </th>
                  <td class="num">{c.handlers}</td>
                  <td>{formatAgo(c.lastSeenAt, now)}</td>
                  <td>{state === 'gone' ? <span class="warn-text">gone (expired)</span> : state}</td>
                </tr>
              );
            })}
          </DataTable>
        )}
      </Panel>
      {unknown && !s.statsUnavailable ? (
        <Panel title="Subscriptions">
          <Empty>Unknown while the event store does not answer.</Empty>
        </Panel>
      ) : !handlersReply.data && !handlersReply.error ? (
        <Panel title="Subscriptions">
          <Empty>Loading…</Empty>
        </Panel>
      ) : !handlersReply.data && handlersReply.error ? (
        // Not "no subscription is stored": the list could not be read (a token, the store).
        <Panel title="Subscriptions">
          <ErrorBanner
            error={handlersReply.error}
            what={
              needsToken(handlersReply.error)
                ? 'Subscriptions need the admin token (top right)'
                : 'Could not load the subscriptions'
            }
          />
        </Panel>
      ) : (
        <Subscriptions subscriptions={subscriptions} now={now} onChange={handlersReply.refresh} />
      )}
    </div>
  );
}
