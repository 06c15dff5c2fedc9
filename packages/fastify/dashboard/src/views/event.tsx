import { useState } from 'preact/hooks';
import { get, post } from '../api.js';
import {
  Badge,
  DataTable,
  Empty,
  ErrorBanner,
  ErrorText,
  EventLink,
  Json,
  Panel,
  Time,
} from '../components.js';
import { formatDuration, shortId } from '../format.js';
import { usePoll } from '../hooks.js';
import { href } from '../router.js';
import { causationTree, countNodes, offsetMs, type TreeNode } from '../tree.js';
import type { EventDetailsJson, EventJson } from '../types.js';

/** Hues far apart from each other, so that a few modules get distinct colours. */
const HUES = [215, 340, 35, 150, 275, 190, 5, 95];

/** A stable colour per module, taken from the event type's first word (User…, Workflow…). */
function hueOf(eventType: string): number {
  const word = /^[A-Z]?[a-z0-9]+/.exec(eventType)?.[0] ?? eventType;
  let h = 0;
  for (const c of word) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return HUES[h % HUES.length]!;
}

function Node(props: { node: TreeNode; root: EventJson }) {
  const { event, focus, cause, children } = props.node;
  const offset = offsetMs(props.root, event);
  return (
    <li
      class={`node ${focus ? 'focus' : ''} ${cause ? 'cause' : ''}`}
      aria-current={focus ? 'true' : undefined}
    >
      <div class="node-card" style={{ '--hue': String(hueOf(event.eventType)) }}>
        <a href={href.event(event.id)} class="node-type">
          {event.eventType}
        </a>
        <span class="node-meta mono" title={event.aggregateId}>
          {event.aggregateType ? `${event.aggregateType} ` : ''}
          {shortId(event.aggregateId)}
        </span>
        <span class="node-meta">#{event.position}</span>
        <span class="node-meta">
          {offset === 0 ? 'root time' : `+${formatDuration(Math.max(0, offset))}`}
        </span>
        {focus ? <span class="tag">this event</span> : null}
      </div>
      {children.length > 0 ? (
        <ul>
          {children.map((c) => (
            <Node key={c.event.id} node={c} root={props.root} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

function Facts(props: { event: EventJson }) {
  const e = props.event;
  const correlation = e.metadata.correlationId;
  const causation = e.metadata.causationId;
  return (
    <dl class="facts grid">
      <dt>id</dt>
      <dd class="mono">{e.id}</dd>
      <dt>position</dt>
      <dd class="mono">{e.position}</dd>
      <dt>aggregate</dt>
      <dd class="mono">
        {e.aggregateType ? `${e.aggregateType} ` : ''}
        <a href={href.events({ aggregateId: e.aggregateId, order: 'asc' })}>{e.aggregateId}</a>
        {e.aggregateVersion !== undefined ? ` v${e.aggregateVersion}` : ''}
      </dd>
      <dt>occurred at</dt>
      <dd>
        <Time iso={e.occurredAt} />
      </dd>
      <dt>recorded at</dt>
      <dd>
        <Time iso={e.recordedAt} />
      </dd>
      <dt>correlation</dt>
      <dd class="mono">
        {correlation === undefined ? (
          '—'
        ) : (
          <a href={href.events({ correlationId: String(correlation), order: 'asc' })}>
            {String(correlation)}
          </a>
        )}
      </dd>
      <dt>caused by</dt>
      <dd>
        {causation === undefined ? (
          '— (a root)'
        ) : (
          <EventLink id={String(causation)} label={String(causation)} />
        )}
      </dd>
    </dl>
  );
}

export function EventPage(props: {
  eventId: string;
  /** Handlers nobody runs any more: a delivery pending for one of them waits for nothing. */
  gone: Set<string>;
}) {
  const details = usePoll(
    (signal) => get<EventDetailsJson>(`events/${encodeURIComponent(props.eventId)}`, signal),
    2000,
    [props.eventId],
  );
  const [retrying, setRetrying] = useState(false);
  const [retryError, setRetryError] = useState<unknown>(undefined);
  async function retry(deliveryId: string) {
    setRetrying(true);
    setRetryError(undefined);
    try {
      await post('dead-letters/retry', { deliveryIds: [deliveryId] });
      details.refresh();
    } catch (e) {
      setRetryError(e);
    } finally {
      setRetrying(false);
    }
  }
  const d = details.data;
  if (!d) {
    return (
      <div class="stack">
        <ErrorBanner error={details.error} what="Could not load the event" />
        {details.error ? null : <Empty>Loading…</Empty>}
      </div>
    );
  }
  const tree = causationTree(d);
  const total = countNodes(tree);
  return (
    <div class="stack">
      <ErrorBanner error={details.error} what="Could not refresh the event" />
      <Panel title={d.event.eventType}>
        <Facts event={d.event} />
      </Panel>
      <Panel
        title="Causation tree"
        actions={
          <span class="muted">
            {total} {total === 1 ? 'event' : 'events'}: {d.causes.length}{' '}
            {d.causes.length === 1 ? 'cause' : 'causes'} above, effects below
          </span>
        }
      >
        {d.truncated ? (
          <p class="banner warn" role="note">
            The flow is larger than the server draws at once; follow the links to see deeper parts.
          </p>
        ) : null}
        <ul class="tree" aria-label="Causation tree">
          <Node node={tree} root={tree.event} />
        </ul>
      </Panel>
      <Panel title="Deliveries">
        <ErrorBanner error={retryError} what="Retry failed" />
        {d.deliveries.length === 0 ? (
          <Empty>
            No delivery on record: no handler took {d.event.eventType} when it was stored, or this store does
            not keep finished deliveries.
          </Empty>
        ) : (
          <DataTable
            label="Deliveries"
            columns={[
              { title: 'handler' },
              { title: 'status' },
              { title: 'attempts', num: true },
              { title: 'last error' },
              { title: 'updated' },
              { title: 'actions', hidden: true },
            ]}
          >
            {d.deliveries.map((x) => (
              <tr key={x.deliveryId} aria-label={x.handler}>
                <th scope="row" class="mono">
                  {x.handler}
                  {x.isReplay ? <span class="tag">replay</span> : null}
                </th>
                <td>
                  <Badge status={x.status} />
                  {x.status === 'pending' && props.gone.has(x.handler) ? (
                    <a
                      class="tag warn"
                      href={href.overview()}
                      title="Nobody runs this handler any more: run it again, or retire it on the overview"
                    >
                      orphaned
                    </a>
                  ) : null}
                </td>
                <td class="num">{x.attempts}</td>
                <td class="error-cell">
                  <ErrorText text={x.lastError} />
                </td>
                <td>
                  <Time iso={x.updatedAt} />
                </td>
                <td>
                  {x.status === 'dead' ? (
                    <button
                      type="button"
                      disabled={retrying}
                      aria-label={`Retry ${x.handler}`}
                      onClick={() => retry(x.deliveryId)}
                    >
                      Retry
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </Panel>
      <div class="columns">
        <Panel title="Data">
          <Json value={d.event.eventData} />
        </Panel>
        <Panel title="Metadata">
          <Json value={d.event.metadata} />
        </Panel>
      </div>
    </div>
  );
}
