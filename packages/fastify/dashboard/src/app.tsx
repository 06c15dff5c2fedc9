import type { ComponentChildren } from 'preact';
import { useMemo, useRef, useState } from 'preact/hooks';
import { get, readToken, saveToken } from './api.js';
import { ErrorBanner } from './components.js';
import { formatAgo, formatCount } from './format.js';
import { useNow, usePoll, useRoute } from './hooks.js';
import { href, type Route } from './router.js';
import { goneHandlers, ratesOf, type Sample, toStatusView } from './status.js';
import { DeadLetters } from './views/dead-letters.js';
import { EventPage } from './views/event.js';
import { Events } from './views/events.js';
import { Overview } from './views/overview.js';
import { Replay } from './views/replay.js';

/** Two minutes of 1 s polls, for the sparklines. */
const MAX_SAMPLES = 120;

function TokenField() {
  const [token, setToken] = useState(readToken);
  const [saved, setSaved] = useState(readToken() !== '');
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        saveToken(token.trim());
        setSaved(token.trim() !== '');
      }}
    >
      <label>
        <span class="sr-only">Admin token</span>
        <input
          type="password"
          autoComplete="off"
          placeholder="admin token"
          value={token}
          onInput={(e) => {
            setToken(e.currentTarget.value);
            setSaved(false);
          }}
        />
      </label>
      <button type="submit">{saved ? 'Saved' : 'Use token'}</button>
    </form>
  );
}

function NavLink(props: { to: string; active: boolean; children: ComponentChildren }) {
  return (
    <a href={props.to} class={props.active ? 'active' : ''} aria-current={props.active ? 'page' : undefined}>
      {props.children}
    </a>
  );
}

function title(route: Route): string {
  switch (route.page) {
    case 'overview':
      return 'Overview';
    case 'dead-letters':
      return 'Dead letters';
    case 'replay':
      return 'Replay';
    case 'events':
      return 'Events';
    case 'event':
      return 'Event';
  }
}

export function App() {
  const route = useRoute();
  const now = useNow();
  const samples = useRef<Sample[]>([]);
  const status = usePoll(
    async (signal) => {
      const view = toStatusView(await get<unknown>('status', signal));
      const { published, handled } = view.totals;
      if (published !== undefined && handled !== undefined) {
        samples.current = [...samples.current, { at: Date.now(), published, handled }].slice(-MAX_SAMPLES);
      }
      return view;
    },
    1000,
    [],
  );
  const s = status.data;
  const rates = ratesOf(samples.current);
  const handlers = useMemo(() => (s?.handlers ?? []).map((h) => h.name), [s]);
  const eventTypes = useMemo(
    () => [...new Set((s?.handlers ?? []).flatMap((h) => h.eventTypes))].sort(),
    [s],
  );
  const live = status.updatedAt !== undefined && now - status.updatedAt < 5000 && !status.error;
  document.title = `${title(route)} · evco`;

  return (
    <>
      <header class="top">
        <a class="brand" href={href.overview()}>
          evco
        </a>
        <nav aria-label="Dashboard">
          <NavLink to={href.overview()} active={route.page === 'overview'}>
            Overview
          </NavLink>
          <NavLink to={href.deadLetters()} active={route.page === 'dead-letters'}>
            Dead letters
            {s?.fleetUnknown ? (
              // Unknown is not zero: no badge would read as "no dead letters".
              <span class="count unknown" title="unknown while the store does not count">
                ?<span class="sr-only"> (count unknown)</span>
              </span>
            ) : (s?.totals.dead ?? 0) > 0 ? (
              <span class="count">{formatCount(s?.totals.dead)}</span>
            ) : null}
          </NavLink>
          <NavLink to={href.replay()} active={route.page === 'replay'}>
            Replay
          </NavLink>
          <NavLink to={href.events()} active={route.page === 'events' || route.page === 'event'}>
            Events
          </NavLink>
        </nav>
        <span class={`live ${live ? 'on' : 'off'}`} role="status" aria-label="Connection">
          <span class="dot" aria-hidden="true" />
          {live
            ? 'live'
            : status.updatedAt
              ? `offline, last update ${formatAgo(new Date(status.updatedAt).toISOString(), now)}`
              : 'connecting'}
        </span>
        {s?.adminRoutes.enabled === false ? (
          // No token can open routes the server switched off: say so where the token would go.
          <span
            class="admin-off"
            role="status"
            aria-label="Admin routes"
            title={s.adminRoutes.hint ?? 'the evco plugin has no auth option'}
          >
            admin routes off
          </span>
        ) : (
          <TokenField />
        )}
      </header>
      <main>
        <h1 class="sr-only">{title(route)}</h1>
        {/* The overview says it with the age of the figures it keeps on screen. */}
        {status.error && !(route.page === 'overview' && s) ? (
          <ErrorBanner error={status.error} what="Status unavailable" />
        ) : null}
        {route.page === 'overview' ? (
          <Overview
            status={s}
            // The last answer, kept on screen while the server does not answer: marked as such.
            stale={
              status.error && status.updatedAt !== undefined
                ? { error: status.error, since: status.updatedAt }
                : undefined
            }
            rates={rates}
            samples={samples.current}
          />
        ) : route.page === 'dead-letters' ? (
          <DeadLetters
            handler={route.handler}
            handlers={handlers}
            admin={s?.adminRoutes}
            deadCount={
              !s || s.fleetUnknown
                ? undefined
                : route.handler
                  ? s.handlers.find((h) => h.name === route.handler)?.dead
                  : s.totals.dead
            }
          />
        ) : route.page === 'replay' ? (
          <Replay
            replayId={route.replayId}
            handlers={handlers}
            eventTypes={eventTypes}
            admin={s?.adminRoutes}
          />
        ) : route.page === 'events' ? (
          <Events query={route.query} eventTypes={eventTypes} />
        ) : (
          <EventPage
            key={route.eventId}
            eventId={route.eventId}
            gone={goneHandlers(s?.handlers ?? [], now)}
          />
        )}
      </main>
    </>
  );
}
