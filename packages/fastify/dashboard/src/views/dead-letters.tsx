import { useState } from 'preact/hooks';
import { get, post, toQuery } from '../api.js';
import {
  AdminDisabledNote,
  Confirm,
  DataTable,
  Empty,
  ErrorBanner,
  ErrorText,
  EventLink,
  Notice,
  Panel,
  Time,
} from '../components.js';
import { countOf, formatCount } from '../format.js';
import { usePoll } from '../hooks.js';
import { hasNextPage } from '../paging.js';
import { href } from '../router.js';
import type { DeadLetterPage } from '../types.js';

const PAGE = 50;

export function DeadLetters(props: {
  handler: string | undefined;
  handlers: string[];
  /** The status's count for the fleet or this handler; undefined while unknown. */
  deadCount: number | undefined;
  /** The server's admin routes: off, retrying answers ADMIN_DISABLED, so it is not offered. */
  admin?: { enabled: boolean; hint: string | undefined } | undefined;
}) {
  const adminOff = props.admin?.enabled === false;
  // Cursors of the pages before the current one, to go back.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const [busy, setBusy] = useState(false);
  // "Retry all" re-drives every dead letter at once (a burst on a service that may still be down):
  // it asks first.
  const [confirming, setConfirming] = useState(false);
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
      setResult(`${what}: ${countOf(reply.retried, 'delivery', 'deliveries')} queued again.`);
      page.refresh();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  }

  const letters = page.data?.deadLetters ?? [];
  const n = props.deadCount;
  const what = n === undefined ? 'every dead letter' : countOf(n, 'dead letter', 'dead letters');
  const whose = props.handler ? ` of ${props.handler}` : '';
  const next = hasNextPage(page.data, letters.length, PAGE);
  const filter = (
    <label class="inline">
      Handler{' '}
      <select
        value={props.handler ?? ''}
        onChange={(e) => {
          setCursors([]);
          setConfirming(false);
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
              disabled={busy || confirming || letters.length === 0 || adminOff}
              onClick={() => setConfirming(true)}
            >
              {props.handler ? 'Retry all of this handler' : 'Retry all'}
            </button>
          </>
        }
      >
        <p class="muted">
          Deliveries that failed every attempt. Retrying queues them again with a fresh attempt count; the
          handler runs them like new ones.{adminOff ? '' : ' Retrying needs the admin token (top right).'}
        </p>
        {adminOff ? <AdminDisabledNote what="retrying dead letters" hint={props.admin?.hint} /> : null}
        {confirming ? (
          <Confirm
            message={`Queue ${n === undefined ? what : `all ${what}`}${whose} again? The handlers run them at once.`}
            confirmLabel={`Retry ${what}`}
            busy={busy}
            onCancel={() => setConfirming(false)}
            onConfirm={() =>
              retry(
                props.handler ? { handler: props.handler } : {},
                props.handler ? `Retried every dead letter of ${props.handler}` : 'Retried every dead letter',
              )
            }
          />
        ) : null}
        {result ? <Notice>{result}</Notice> : null}
        <ErrorBanner error={actionError} what="Retry failed" />
        <ErrorBanner error={page.error} what="Could not load the dead letters" />
        {!page.data ? (
          // Before the first answer, or none: not an empty table that reads as "no dead letters".
          page.error ? null : (
            <Empty>Loading…</Empty>
          )
        ) : letters.length === 0 ? (
          <Empty>
            No dead letters{props.handler ? ` for ${props.handler}` : ''}. Everything was handled.
          </Empty>
        ) : (
          <DataTable
            label="Dead letters"
            columns={[
              { title: 'event' },
              { title: 'handler' },
              { title: 'attempts', num: true },
              { title: 'last error' },
              { title: 'failed at' },
              { title: 'actions', hidden: true },
            ]}
          >
            {letters.map(({ event, delivery }) => (
              <tr key={delivery.deliveryId} aria-label={`${event.eventType} for ${delivery.handler}`}>
                <td>
                  <div>{event.eventType}</div>
                  <EventLink id={event.id} />
                </td>
                <td class="mono">{delivery.handler}</td>
                <td class="num">{formatCount(delivery.attempts)}</td>
                <td class="error-cell">
                  <ErrorText text={delivery.lastError} />
                </td>
                <td>
                  <Time iso={delivery.updatedAt} />
                </td>
                <td>
                  <button
                    type="button"
                    disabled={busy || adminOff}
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
          </DataTable>
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
