import { useState } from 'preact/hooks';
import { get, post, toQuery } from '../api.js';
import { Empty, ErrorBanner, EventLink, Notice, Panel, Time } from '../components.js';
import { formatCount } from '../format.js';
import { usePoll } from '../hooks.js';
import { hasNextPage } from '../paging.js';
import { href } from '../router.js';
import type { DeadLetterPage } from '../types.js';

const PAGE = 50;

export function DeadLetters(props: { handler: string | undefined; handlers: string[] }) {
  // Cursors of the pages before the current one, to go back.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<string | undefined>(undefined);
  const [actionError, setActionError] = useState<unknown>(undefined);
  const page = usePoll(
    (signal) =>
      get<DeadLetterPage>(`dead-letters${toQuery({ limit: PAGE, handler: props.handler, cursor })}`, signal),
    1000,
    [props.handler, cursor],
  );

  async function retry(body: { deliveryIds?: string[]; handler?: string }, what: string) {
    setBusy(true);
    setActionError(undefined);
    setResult(undefined);
    try {
      const reply = await post<{ retried: number }>('dead-letters/retry', body);
      setResult(`${what}: ${reply.retried} ${reply.retried === 1 ? 'delivery' : 'deliveries'} queued again.`);
      page.refresh();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  }

  const letters = page.data?.deadLetters ?? [];
  const next = hasNextPage(page.data, letters.length, PAGE);
  const filter = (
    <label class="inline">
      Handler{' '}
      <select
        value={props.handler ?? ''}
        onChange={(e) => {
          setCursors([]);
          location.hash = href.deadLetters((e.target as HTMLSelectElement).value || undefined);
        }}
      >
        <option value="">all handlers</option>
        {props.handlers.map((h) => (
          <option key={h} value={h}>
            {h}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <div class="stack">
      <Panel
        title="Dead letters"
        actions={
          <>
            {filter}
            <button
              type="button"
              class="primary"
              disabled={busy || letters.length === 0}
              onClick={() =>
                retry(
                  props.handler ? { handler: props.handler } : {},
                  props.handler
                    ? `Retried every dead letter of ${props.handler}`
                    : 'Retried every dead letter',
                )
              }
            >
              {props.handler ? 'Retry all of this handler' : 'Retry all'}
            </button>
          </>
        }
      >
        <p class="muted">
          Deliveries that failed every attempt. Retrying queues them again with a fresh attempt count; the
          handler runs them like new ones. Retrying needs the admin token (top right).
        </p>
        {result ? <Notice>{result}</Notice> : null}
        <ErrorBanner error={actionError} what="Retry failed" />
        <ErrorBanner error={page.error} what="Could not load the dead letters" />
        {page.data && letters.length === 0 ? (
          <Empty>
            No dead letters{props.handler ? ` for ${props.handler}` : ''}. Everything was handled.
          </Empty>
        ) : (
          <div class="scroll">
            <table aria-label="Dead letters">
              <thead>
                <tr>
                  <th scope="col">event</th>
                  <th scope="col">handler</th>
                  <th scope="col" class="num">
                    attempts
                  </th>
                  <th scope="col">last error</th>
                  <th scope="col">failed at</th>
                  <th scope="col">
                    <span class="sr-only">actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {letters.map(({ event, delivery }) => (
                  <tr key={delivery.deliveryId} aria-label={`${event.eventType} for ${delivery.handler}`}>
                    <td>
                      <div>{event.eventType}</div>
                      <EventLink id={event.id} />
                    </td>
                    <td class="mono">{delivery.handler}</td>
                    <td class="num">{formatCount(delivery.attempts)}</td>
                    <td class="error-cell">
                      <pre>{delivery.lastError ?? ''}</pre>
                    </td>
                    <td>
                      <Time iso={delivery.updatedAt} />
                    </td>
                    <td>
                      <button
                        type="button"
                        disabled={busy}
                        aria-label={`Retry ${event.eventType} for ${delivery.handler}`}
                        onClick={() =>
                          retry(
                            { deliveryIds: [delivery.deliveryId] },
                            `Retried ${event.eventType} for ${delivery.handler}`,
                          )
                        }
                      >
                        Retry
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <nav class="pager" aria-label="Dead letter pages">
          <button
            type="button"
            disabled={cursors.length === 0}
            onClick={() => setCursors(cursors.slice(0, -1))}
          >
            Previous page
          </button>
          <button type="button" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
            Next page
          </button>
        </nav>
      </Panel>
    </div>
  );
}
