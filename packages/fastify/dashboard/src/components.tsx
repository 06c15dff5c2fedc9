import type { ComponentChildren } from 'preact';
import { ApiError } from './api.js';
import { formatTime, shortId } from './format.js';
import { href } from './router.js';

export function Stat(props: { label: string; value: string; hint?: string; tone?: 'warn' | 'bad' }) {
  const id = `stat-${props.label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class={`stat ${props.tone ?? ''}`} aria-labelledby={id}>
      <div class="stat-label" id={id}>
        {props.label}
      </div>
      <div class="stat-value">{props.value}</div>
      {props.hint ? <div class="stat-hint">{props.hint}</div> : null}
    </section>
  );
}

export function ErrorBanner(props: { error: unknown; what?: string }) {
  const e = props.error;
  if (!e) return null;
  const code = e instanceof ApiError ? e.code : undefined;
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

export function Badge(props: { status: string }) {
  return <span class={`badge badge-${props.status}`}>{props.status}</span>;
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

export function Time(props: { iso: string | null | undefined }) {
  return props.iso ? <time dateTime={props.iso}>{formatTime(props.iso)}</time> : <span>—</span>;
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
