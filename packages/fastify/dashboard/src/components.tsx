import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef } from 'preact/hooks';
import { ApiError } from './api.js';
import { formatCount, formatTime, shortId } from './format.js';
import { href } from './router.js';
import type { PrunedJson } from './types.js';

export function Stat(props: { label: string; value: string; hint?: string; tone?: 'warn' | 'bad' }) {
  const id = `stat-${props.label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class={`stat ${props.tone ?? ''}`} aria-labelledby={id}>
      <div class="stat-label" id={id}>
        {props.label}
      </div>
      <div
        class={`stat-value ${props.value.length >= 10 ? 'longer' : props.value.length >= 7 ? 'long' : ''}`}
      >
        {/* Past a card's width a figure wraps at its group separators, never under the next card. */}
        {props.value.split(',').map((group, i) => (i === 0 ? group : [',', <wbr key={i} />, group]))}
      </div>
      {props.hint ? <div class="stat-hint">{props.hint}</div> : null}
    </section>
  );
}

/** What the server's admin routes being off means here, before (or instead of) a failed call. */
export function AdminDisabledNote(props: { what: string; hint?: string | undefined }) {
  return (
    <div class="banner warn" role="note" aria-label="Admin routes off">
      <strong>Admin routes are off</strong> <code class="code">ADMIN_DISABLED</code> This server has no admin
      auth check configured, so {props.what} is not available from this dashboard, and no admin token helps.{' '}
      {props.hint
        ? `To turn them on: ${props.hint}.`
        : 'To turn them on, give the evco plugin its auth option.'}
    </div>
  );
}

export function ErrorBanner(props: { error: unknown; what?: string }) {
  const e = props.error;
  if (!e) return null;
  const code = e instanceof ApiError ? e.code : undefined;
  // The route exists but is switched off: an explanation, not a failure to retry.
  if (code === 'ADMIN_DISABLED') {
    return (
      <div class="banner warn" role="alert">
        <strong>{props.what ?? 'Request failed'}: admin routes are off</strong>{' '}
        <code class="code">ADMIN_DISABLED</code> {(e as Error).message}. No admin token helps until the server
        is configured with an auth check.
      </div>
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  const issues = e instanceof ApiError ? e.issues : [];
  return (
    <div class="banner bad" role="alert">
      <strong>{props.what ?? 'Request failed'}</strong>
      {code ? <code class="code">{code}</code> : null} {message}
      {issues.length > 0 ? (
        <ul>
          {issues.map((i) => (
            <li key={i.path}>
              <code>{i.path || '(body)'}</code> {i.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Notice(props: { children: ComponentChildren }) {
  return (
    <div class="banner ok" role="status">
      {props.children}
    </div>
  );
}

/** A column of a `DataTable`: `num` right-aligns figures, `hidden` is for screen readers only. */
export interface Column {
  title: string;
  num?: boolean;
  hidden?: boolean;
}

/**
 * A table that scrolls sideways inside its panel, never the page (`short`: and down, past 320 px).
 * `children` are its body rows.
 */
export function DataTable(props: {
  label: string;
  columns: Column[];
  short?: boolean;
  children: ComponentChildren;
}) {
  return (
    <div class={props.short ? 'scroll short' : 'scroll'}>
      <table aria-label={props.label}>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c.title} scope="col" class={c.num ? 'num' : undefined}>
                {c.hidden ? <span class="sr-only">{c.title}</span> : c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

export function Badge(props: { status: string }) {
  return <span class={`badge badge-${props.status}`}>{props.status}</span>;
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/**
 * An instant, in UTC like every stored time, and saying so: the page's forms take local time, so
 * an unlabelled time would read as either. The local time is in the tooltip.
 */
export function Time(props: { iso: string | null | undefined }) {
  if (!props.iso) return <span>—</span>;
  const local = new Date(props.iso);
  return (
    <time
      dateTime={props.iso}
      title={Number.isNaN(local.getTime()) ? undefined : `${local.toLocaleString()} local time`}
    >
      {formatTime(props.iso)} UTC
    </time>
  );
}

/** A handler's error: long ones (a cause chain, a 4000-character description) open on demand. */
export function ErrorText(props: { text: string | null | undefined }) {
  const text = props.text ?? '';
  if (text.length <= ERROR_PREVIEW) return <pre>{text}</pre>;
  return (
    <details class="error-more">
      <summary>
        <span class="preview">{`${text.slice(0, ERROR_PREVIEW)}…`}</span>
        <span class="more">show all ({formatCount(text.length)} characters)</span>
      </summary>
      <pre>{text}</pre>
    </details>
  );
}
const ERROR_PREVIEW = 200;

/**
 * The second step of a destructive action, in its own row: the button that armed it is disabled
 * meanwhile, so a double click on it can never confirm. Focus lands on Cancel, so a repeated
 * Enter cannot either (after a double click, the second press on the disabled button takes the
 * focus to the page, where Enter does nothing).
 */
export function Confirm(props: {
  message: ComponentChildren;
  confirmLabel: string;
  busy: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  // Layout effect: focus moves in the same task that puts the row in the page. A plain effect ran
  // after paint, at a moment that raced a double click's second press (CI saw both orders).
  useLayoutEffect(() => cancel.current?.focus(), []);
  return (
    <fieldset class="banner warn confirm" aria-label="Confirm">
      <span>{props.message}</span>
      <span class="row">
        <button type="button" class="danger" disabled={props.busy} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
        <button type="button" ref={cancel} disabled={props.busy} onClick={props.onCancel}>
          Cancel
        </button>
      </span>
    </fieldset>
  );
}

/** What retention removed from a range, so a short or empty page is not read as "nothing happened". */
export function PrunedNote(props: { pruned: PrunedJson[] | undefined }) {
  const pruned = props.pruned ?? [];
  if (pruned.length === 0) return null;
  return (
    <div class="banner warn" role="note">
      Retention removed events from this range; only what is left is shown:
      <ul>
        {pruned.map((p) => (
          <li key={p.eventType}>
            <code>{p.eventType}</code> that occurred before <Time iso={p.before} /> ({formatCount(p.removed)}{' '}
            removed so far)
          </li>
        ))}
      </ul>
    </div>
  );
}

export function EventLink(props: { id: string; label?: string }) {
  return (
    <a href={href.event(props.id)} class="mono" title={props.id}>
      {props.label ?? shortId(props.id)}
    </a>
  );
}

export function Panel(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  const id = `panel-${props.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="panel" aria-labelledby={id}>
      <header class="panel-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions ? <div class="panel-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

/** A small line chart of recent per-second rates (no axes: the number beside it says the scale). */
export function Sparkline(props: { values: number[]; label: string; width?: number; height?: number }) {
  const width = props.width ?? 160;
  const height = props.height ?? 36;
  const values = props.values.length > 1 ? props.values : [0, 0];
  const max = Math.max(1, ...values);
  const step = width / (values.length - 1);
  const points = values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`)
    .join(' ');
  return (
    <svg
      class="spark"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={props.label}
    >
      <polyline points={`0,${height} ${points} ${width},${height}`} class="spark-fill" />
      <polyline points={points} class="spark-line" />
    </svg>
  );
}

export function Json(props: { value: unknown }) {
  return <pre class="json">{JSON.stringify(props.value, null, 2)}</pre>;
}
