import { useState } from 'preact/hooks';
import { get, toQuery } from '../api.js';
import { DataTable, Empty, ErrorBanner, EventLink, Panel, PrunedNote, Time } from '../components.js';
import { isoToLocalInput, localInputToIso, localZone, shortId } from '../format.js';
import { usePoll } from '../hooks.js';
import { hasNextPage, prunedOnPage } from '../paging.js';
import { href } from '../router.js';
import type { EventPage } from '../types.js';

const PAGE = 50;
const FILTERS = ['eventType', 'aggregateId', 'correlationId', 'from', 'to', 'order'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

function filtersOf(query: URLSearchParams): Filters {
  const f = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ''])) as Filters;
  if (f.order !== 'asc') f.order = 'desc';
  return f;
}

const toLocal = (iso: string) => (iso ? isoToLocalInput(new Date(iso)) : '');

function FilterForm(props: { filters: Filters; eventTypes: string[] }) {
  const [draft, setDraft] = useState<Filters>({
    ...props.filters,
    from: toLocal(props.filters.from),
    to: toLocal(props.filters.to),
  });
  const set = (k: keyof Filters) => (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) =>
    setDraft({ ...draft, [k]: e.currentTarget.value });
  return (
    <form
      class="form"
      aria-label="Event filters"
      onSubmit={(e) => {
        e.preventDefault();
        location.hash = href.events({
          ...draft,
          from: localInputToIso(draft.from) ?? '',
          to: localInputToIso(draft.to) ?? '',
          order: draft.order === 'asc' ? 'asc' : '',
        });
      }}
    >
      <div class="fields">
        <label>
          Event type
          <input
            list="explorer-event-types"
            value={draft.eventType}
            onInput={set('eventType')}
            placeholder="any"
          />
          <datalist id="explorer-event-types">
            {props.eventTypes.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        <label>
          Aggregate id
          <input value={draft.aggregateId} onInput={set('aggregateId')} placeholder="any" />
        </label>
        <label>
          Correlation id
          <input value={draft.correlationId} onInput={set('correlationId')} placeholder="any" />
        </label>
        <label>
          Occurred from ({localZone()})
          <input type="datetime-local" value={draft.from} onInput={set('from')} />
        </label>
        <label>
          Occurred before ({localZone()})
          <input type="datetime-local" value={draft.to} onInput={set('to')} />
        </label>
        <label>
          Order
          <select value={draft.order} onChange={set('order')}>
            <option value="desc">newest first</option>
            <option value="asc">oldest first</option>
          </select>
        </label>
      </div>
      <div class="row">
        <button type="submit" class="primary">
          Search
        </button>
        <a href={href.events()} class="button">
          Clear
        </a>
      </div>
    </form>
  );
}

export function Events(props: { query: URLSearchParams; eventTypes: string[] }) {
  const filters = filtersOf(props.query);
  const key = FILTERS.map((k) => filters[k]).join('|');
  const [cursors, setCursors] = useState<{ key: string; stack: string[] }>({ key, stack: [] });
  // A new search starts at its first page.
  const stack = cursors.key === key ? cursors.stack : [];
  const cursor = stack[stack.length - 1];
  const page = usePoll(
    (signal) => get<EventPage>(`events${toQuery({ ...filters, limit: PAGE, cursor })}`, signal),
    2000,
    [key, cursor],
  );
  const events = page.data?.events ?? [];
  const next = hasNextPage(page.data, events.length, PAGE);
  return (
    <div class="stack">
      <Panel title="Find events">
        <FilterForm key={key} filters={filters} eventTypes={props.eventTypes} />
      </Panel>
      <Panel title="Events">
        <ErrorBanner error={page.error} what="Could not search the events" />
        <PrunedNote
          pruned={
            page.data &&
            prunedOnPage(page.data.pruned, events, {
              order: filters.order === 'asc' ? 'asc' : 'desc',
              // Nothing older follows the last page newest first, nor precedes the first oldest first.
              atOldestEnd: filters.order === 'asc' ? stack.length === 0 : !next,
            })
          }
        />
        {!page.data ? (
          page.error ? null : (
            <Empty>Loading…</Empty>
          )
        ) : events.length === 0 ? (
          <Empty>No event matches.</Empty>
        ) : (
          <DataTable
            label="Events"
            columns={[
              { title: 'position', num: true },
              { title: 'occurred at' },
              { title: 'event type' },
              { title: 'aggregate' },
              { title: 'correlation' },
              { title: 'caused by' },
            ]}
          >
            {events.map((e) => {
              const correlation = e.metadata.correlationId;
              const causation = e.metadata.causationId;
              return (
                <tr key={e.id}>
                  <td class="num mono">{e.position}</td>
                  <td>
                    <Time iso={e.occurredAt} />
                  </td>
                  <td>
                    <a href={href.event(e.id)}>{e.eventType}</a>
                  </td>
                  <td class="mono" title={e.aggregateId}>
                    {e.aggregateType ? <span class="muted">{e.aggregateType} </span> : null}
                    {shortId(e.aggregateId)}
                  </td>
                  <td class="mono">
                    {correlation === undefined ? (
                      '—'
                    ) : (
                      <a
                        href={href.events({ correlationId: String(correlation), order: 'asc' })}
                        title={`every event of flow ${correlation}`}
                      >
                        {shortId(correlation)}
                      </a>
                    )}
                  </td>
                  <td>{causation === undefined ? '—' : <EventLink id={String(causation)} />}</td>
                </tr>
              );
            })}
          </DataTable>
        )}
        <nav class="pager" aria-label="Event pages">
          <button
            type="button"
            disabled={stack.length === 0}
            onClick={() => setCursors({ key, stack: stack.slice(0, -1) })}
          >
            Previous page
          </button>
          <button
            type="button"
            disabled={!next}
            onClick={() => next && setCursors({ key, stack: [...stack, next] })}
          >
            Next page
          </button>
        </nav>
      </Panel>
    </div>
  );
}
