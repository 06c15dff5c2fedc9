import { useEffect, useRef, useState } from 'preact/hooks';
import { serverNow } from './clock.js';
import { parseRoute, type Route } from './router.js';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** When the last successful answer came (ms since epoch, server clock). */
  updatedAt: number | undefined;
  /** Fetch now, outside the rhythm (e.g. after an action). */
  refresh(): void;
}

/**
 * Calls `load` now and then every `intervalMs` after each answer (never two in flight), until the
 * component goes or `deps` change. `enabled: false` pauses it (e.g. a finished replay).
 */
export function usePoll<T>(
  load: (signal: AbortSignal) => Promise<T>,
  intervalMs: number,
  deps: readonly unknown[],
  enabled = true,
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [updatedAt, setUpdatedAt] = useState<number | undefined>(undefined);
  const kick = useRef<() => void>(() => {});

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    const tick = async () => {
      if (running) return;
      running = true;
      clearTimeout(timer);
      try {
        const value = await load(controller.signal);
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
        setUpdatedAt(serverNow());
      } catch (e) {
        if (controller.signal.aborted) return;
        setError(e as Error);
      } finally {
        running = false;
        if (!controller.signal.aborted) timer = setTimeout(tick, intervalMs);
      }
    };
    kick.current = () => void tick();
    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [...deps, enabled, intervalMs]);

  return { data, error, updatedAt, refresh: () => kick.current() };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** A clock for "3 s ago" labels that re-renders once a second: the server's (see clock.ts). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(serverNow);
  useEffect(() => {
    const t = setInterval(() => setNow(serverNow()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}
