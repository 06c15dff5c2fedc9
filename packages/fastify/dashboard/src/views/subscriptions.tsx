import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { Confirm, DataTable, Empty, ErrorBanner, Notice, Panel } from '../components.js';
import { countOf, formatAgo, shortId } from '../format.js';
import type { SubscriptionRow } from '../status.js';

/**
 * Every stored subscription and who renews it. A handler nobody renews any more (its process is
 * gone or it was renamed) keeps its pending deliveries as orphans until it is retired here.
 */
export function Subscriptions(props: { subscriptions: SubscriptionRow[]; now: number; onChange(): void }) {
  // The handler whose Retire was clicked: it is retired once confirmed in the row that opens.
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
      setResult(
        `Retired ${handler}: ${countOf(reply.deliveriesRemoved, 'unfinished delivery', 'unfinished deliveries')} removed.`,
      );
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
      {arming ? (
        <Confirm
          message={`Retire ${arming}? Its subscriptions and its unfinished deliveries are removed.`}
          confirmLabel={`Retire ${arming}`}
          busy={busy}
          onCancel={() => setArming(undefined)}
          onConfirm={() => retire(arming)}
        />
      ) : null}
      {result ? <Notice>{result}</Notice> : null}
      <ErrorBanner error={error} what="Retire failed" />
      {props.subscriptions.length === 0 ? (
        <Empty>No subscription is stored.</Empty>
      ) : (
        <DataTable
          label="Subscriptions"
          short
          columns={[
            { title: 'handler' },
            { title: 'event type' },
            { title: 'ordering' },
            { title: 'renewed by' },
            { title: 'expires' },
            { title: 'actions', hidden: true },
          ]}
        >
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
                  {gone ? `expired ${formatAgo(x.expiresAt, props.now)}` : formatAgo(x.expiresAt, props.now)}
                </td>
                <td>
                  {gone ? (
                    <button
                      type="button"
                      disabled={busy || arming !== undefined}
                      aria-label={`Retire ${x.handler}`}
                      onClick={() => setArming(x.handler)}
                    >
                      Retire
                    </button>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </DataTable>
      )}
    </Panel>
  );
}
