import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { Empty, ErrorBanner, Notice, Panel } from '../components.js';
import { formatAgo, shortId } from '../format.js';
import type { SubscriptionRow } from '../status.js';

/**
 * Every stored subscription and who renews it. A handler nobody renews any more (its process is
 * gone or it was renamed) keeps its pending deliveries as orphans until it is retired here.
 */
export function Subscriptions(props: { subscriptions: SubscriptionRow[]; now: number; onChange(): void }) {
  // The handler whose Retire was clicked once: a second click confirms.
  const [arming, setArming] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);

  async function retire(handler: string) {
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const reply = await post<{ deliveriesRemoved: number }>(
        `handlers/${encodeURIComponent(handler)}/retire`,
        {},
      );
      setResult(`Retired ${handler}: ${reply.deliveriesRemoved} unfinished deliveries removed.`);
      props.onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
      setArming(undefined);
    }
  }

  const expired = (x: SubscriptionRow) =>
    x.expired ?? (x.expiresAt !== undefined && Date.parse(x.expiresAt) <= props.now);
  return (
    <Panel title="Subscriptions">
      {result ? <Notice>{result}</Notice> : null}
      <ErrorBanner error={error} what="Retire failed" />
      {props.subscriptions.length === 0 ? (
        <Empty>No subscription is stored.</Empty>
      ) : (
        <div class="scroll short">
          <table aria-label="Subscriptions">
            <thead>
              <tr>
                <th scope="col">handler</th>
                <th scope="col">event type</th>
                <th scope="col">ordering</th>
                <th scope="col">renewed by</th>
                <th scope="col">expires</th>
                <th scope="col">
                  <span class="sr-only">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.subscriptions.map((x) => {
                const gone = expired(x);
                return (
                  <tr key={`${x.handler}/${x.eventType}`}>
                    <td class="mono">{x.handler}</td>
                    <td>{x.eventType}</td>
                    <td>{x.ordering ?? ''}</td>
                    <td class="mono" title={x.lastSeenBy}>
                      {shortId(x.lastSeenBy)}
                    </td>
                    <td class={gone ? 'warn-text' : ''}>
                      {gone
                        ? `expired ${formatAgo(x.expiresAt, props.now)}`
                        : formatAgo(x.expiresAt, props.now)}
                    </td>
                    <td>
                      {gone ? (
                        <button
                          type="button"
                          disabled={busy}
                          aria-label={
                            arming === x.handler ? `Confirm retiring ${x.handler}` : `Retire ${x.handler}`
                          }
                          onClick={() => (arming === x.handler ? retire(x.handler) : setArming(x.handler))}
                        >
                          {arming === x.handler ? 'Confirm retire' : 'Retire'}
                        </button>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
