/** Display helpers, pure. */

export function formatCount(n: number | undefined): string {
  return n === undefined ? '—' : n.toLocaleString('en-US');
}

/** A count with its noun in the right number: "1 delivery", "2 deliveries", "1,000 events". */
export function countOf(n: number, one: string, many: string): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

export function formatRate(n: number | undefined): string {
  if (n === undefined) return '—';
  if (n === 0) return '0';
  return n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = s / 60;
  // Floors all the way down: rounding a remainder could print "23 h 60 min".
  if (m < 60) return `${Math.floor(m)} min ${Math.floor(s % 60)} s`;
  const h = m / 60;
  return h < 48 ? `${Math.floor(h)} h ${Math.floor(m % 60)} min` : `${Math.floor(h / 24)} d`;
}

/** "2026-11-28 09:12:47.123" in UTC, the time every stored event is in. */
export function formatTime(iso: string | undefined | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** "3 s ago" / "in 25 s" relative to `now`. */
export function formatAgo(iso: string | undefined | null, now: number): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = now - t;
  return d >= 0 ? `${formatDuration(d)} ago` : `in ${formatDuration(-d)}`;
}

/** The end of an id: enough to tell ids apart on one screen. */
export function shortId(id: string | number | undefined | null): string {
  if (id === undefined || id === null || id === '') return '—';
  const s = String(id);
  return s.length > 12 ? `…${s.slice(-8)}` : s;
}

/** The browser's time zone, which `datetime-local` inputs are in ("Europe/Paris"). */
export function localZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  } catch {
    return 'local time';
  }
}

/** `datetime-local` input value (local time) ↔ ISO instant. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function isoToLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}
