/**
 * Calls to the plugin's admin routes. The page lives at `{prefix}/dashboard/`, so the routes are
 * one level up from this script: resolving against the script's own URL keeps every prefix (and
 * a reverse proxy's path) working without configuration.
 */
import { noteServerDate } from './clock.js';
import type { ApiErrorBody } from './types.js';

const TOKEN_KEY = 'evco.dashboard.token';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** `{prefix}/` as an absolute URL. */
export function apiBase(scriptUrl: string): URL {
  return new URL('../', scriptUrl);
}

const base = apiBase(import.meta.url);

export function readToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveToken(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be disabled (private mode, policies): the token then lives for this page only.
  }
}

/** Query string from the defined, non-empty values. */
export function toQuery(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function describe(status: number, body: unknown, fallback: string): ApiError {
  const error = (body as Partial<ApiErrorBody> | undefined)?.error;
  if (error && typeof error.code === 'string') {
    return new ApiError(status, error.code, error.message ?? fallback, error.issues ?? []);
  }
  return new ApiError(status, `HTTP_${status}`, fallback);
}

export async function request<T>(
  method: 'GET' | 'POST',
  path: string,
  options: { body?: unknown; token?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let res: Response;
  const sentAt = Date.now();
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      cache: 'no-store',
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'the server does not answer');
  }
  noteServerDate(res.headers.get('date'), sentAt, Date.now());
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const fallback = res.status === 401 ? 'admin token missing or wrong' : `${res.status} ${res.statusText}`;
    const error = describe(res.status, body, fallback);
    // The server cannot tell a wrong token from none; the page can, and says which to fix.
    if (res.status === 401) {
      error.message += options.token
        ? ' (the admin token given was refused)'
        : ' (give the admin token, top right)';
    }
    throw error;
  }
  return body as T;
}

export const get = <T>(path: string, signal?: AbortSignal) =>
  request<T>('GET', path, { signal, token: readToken() });
export const post = <T>(path: string, body: unknown) =>
  request<T>('POST', path, { body, token: readToken() });
