import { useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { serverNow } from '../clock.js';
import { AdminDisabledNote, ErrorBanner, Panel, PrunedNote, Time } from '../components.js';
import { formatCount, isoToLocalInput, localInputToIso, localZone } from '../format.js';
import { usePoll } from '../hooks.js';
import { href } from '../router.js';
import type { ReplayProgressJson } from '../types.js';

function ReplayForm(props: { handlers: string[]; eventTypes: string[]; adminOff: boolean }) {
  // Until edited, the last hour on the server's clock (the events' times are the server's),
  // drawn afresh each render: the clock is known only after the first reply, which a page opened
  // on #/replay has not had yet when this form first draws.
  const [editedFrom, setFrom] = useState<string | undefined>(undefined);
  const [editedTo, setTo] = useState<string | undefined>(undefined);
  const from = editedFrom ?? isoToLocalInput(new Date(serverNow() - 60 * 60_000));
  const to = editedTo ?? isoToLocalInput(new Date(serverNow() + 60_000));
  const [eventType, setEventType] = useState('');
  const [handler, setHandler] = useState('');
  const [maxEvents, setMaxEvents] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  async function submit(e: Event) {
    e.preventDefault();
    setError(undefined);
    const fromIso = localInputToIso(from);
    const toIso = localInputToIso(to);
    if (!fromIso || !toIso) {
      setError(new Error('give both ends of the time range'));
      return;
    }
    setBusy(true);
    try {
      const body: Record<string, unknown> = { from: fromIso, to: toIso };
      if (eventType) body.eventType = eventType;
      if (handler) body.handler = handler;
      if (maxEvents) body.maxEvents = Number(maxEvents);
      const job = await post<ReplayProgressJson>('replays', body);
      location.hash = href.replay(job.id);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="form" onSubmit={submit} aria-label="Replay">
      <p class="muted">
        Queues the stored events of a time range (on their <em>occurred at</em> time, in your time zone,{' '}
        {localZone()}) again for their handlers, or for one. Handlers see <code>context.isReplay</code>.
        {props.adminOff ? '' : ' Needs the admin token.'}
      </p>
      <div class="fields">
        <label>
          From (inclusive)
          <input
            type="datetime-local"
            required
            value={from}
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
        </label>
        <label>
          To (exclusive)
          <input type="datetime-local" required value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <label>
          Event type
          <input
            list="replay-event-types"
            value={eventType}
            placeholder="every type"
            onInput={(e) => setEventType(e.currentTarget.value)}
          />
          <datalist id="replay-event-types">
            {props.eventTypes.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        <label>
          Handler
          <select value={handler} onChange={(e) => setHandler(e.currentTarget.value)}>
            <option value="">every handler of those events</option>
            {props.handlers.map((h) => (
              <option key={h} value={h}>
                {h}
              </option>
            ))}
          </select>
        </label>
        <label>
          Max events
          <input
            type="number"
            min={1}
            value={maxEvents}
            placeholder="server default"
            onInput={(e) => setMaxEvents(e.currentTarget.value)}
          />
        </label>
      </div>
      <ErrorBanner error={error} what="Replay not started" />
      <div>
        <button type="submit" class="primary" disabled={busy || props.adminOff}>
          Start replay
        </button>
      </div>
    </form>
  );
}

function Progress(props: { replayId: string }) {
  const [done, setDone] = useState(false);
  const job = usePoll(
    async (signal) => {
      const j = await get<ReplayProgressJson>(`replays/${encodeURIComponent(props.replayId)}`, signal);
      if (j.done) setDone(true);
      return j;
    },
    1000,
    [props.replayId],
    !done,
  );
  const j = job.data;
  const handled = j ? Math.max(0, j.deliveriesQueued - j.deliveriesOpen - j.deliveriesDead) : 0;
  const share = j && j.deliveriesQueued > 0 ? handled / j.deliveriesQueued : j?.done ? 1 : 0;
  const state = !j ? 'loading' : j.done ? 'done' : j.status === 'done' ? 'delivering' : 'queuing';
  return (
    <Panel title="Replay job">
      <ErrorBanner error={job.error} what="Could not load the replay" />
      {j ? (
        <div class="stack">
          <PrunedNote pruned={j.pruned} />
          <div class="replay-state">
            <span
              class={`badge badge-${j.done ? 'done' : 'running'}`}
              role="status"
              aria-label="Replay state"
            >
              {state}
            </span>
            <progress
              max={1}
              value={share}
              aria-label="Replay progress"
              aria-valuetext={`${Math.round(share * 100)} %`}
            />
            <span>{Math.round(share * 100)} %</span>
          </div>
          <dl class="facts grid">
            <dt>id</dt>
            <dd class="mono">{j.id}</dd>
            <dt>range</dt>
            <dd>
              <Time iso={j.from} /> → <Time iso={j.to} />
            </dd>
            <dt>event type</dt>
            <dd>{j.eventType ?? 'every type'}</dd>
            <dt>handler</dt>
            <dd>{j.handler ?? 'every handler'}</dd>
            <dt>events matched</dt>
            <dd>
              {formatCount(j.eventsMatched)}
              {j.truncated ? ` (stopped at max events ${formatCount(j.maxEvents)})` : ''}
            </dd>
            <dt>deliveries queued</dt>
            <dd>{formatCount(j.deliveriesQueued)}</dd>
            <dt>handled</dt>
            <dd>{formatCount(handled)}</dd>
            <dt>still open</dt>
            <dd>{formatCount(j.deliveriesOpen)}</dd>
            <dt>dead</dt>
            <dd class={j.deliveriesDead > 0 ? 'bad-text' : ''}>
              {j.deliveriesDead > 0 ? (
                <a href={href.deadLetters(j.handler)}>{formatCount(j.deliveriesDead)}</a>
              ) : (
                '0'
              )}
            </dd>
            <dt>started</dt>
            <dd>
              <Time iso={j.createdAt} />
            </dd>
          </dl>
        </div>
      ) : null}
    </Panel>
  );
}

export function Replay(props: {
  replayId: string | undefined;
  handlers: string[];
  eventTypes: string[];
  /** The server's admin routes: off, starting a replay answers ADMIN_DISABLED, so it is not offered. */
  admin?: { enabled: boolean; hint: string | undefined } | undefined;
}) {
  const adminOff = props.admin?.enabled === false;
  return (
    <div class="stack">
      {props.replayId ? <Progress key={props.replayId} replayId={props.replayId} /> : null}
      <Panel title="Start a replay">
        {adminOff ? <AdminDisabledNote what="starting a replay" hint={props.admin?.hint} /> : null}
        <ReplayForm handlers={props.handlers} eventTypes={props.eventTypes} adminOff={adminOff} />
      </Panel>
    </div>
  );
}
