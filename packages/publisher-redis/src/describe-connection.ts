import { maskUrl } from '@evco/core/adapter';
import type { Redis } from 'ioredis';

/**
 * A URL naming where a caller-supplied client points, for logs, errors and health details. It
 * is rebuilt from the client's options, so a password can only ever appear as `***`.
 */
export function describeClient(client: Redis): string {
  const o = client.options ?? {};
  if (typeof o.path === 'string' && o.path.length > 0) return `redis+unix://${o.path}`;
  const scheme = o.tls ? 'rediss' : 'redis';
  const user = typeof o.username === 'string' && o.username.length > 0 ? encodeURIComponent(o.username) : '';
  const secret = typeof o.password === 'string' && o.password.length > 0 ? ':***' : '';
  const auth = user || secret ? `${user}${secret}@` : '';
  const host = typeof o.host === 'string' ? o.host : 'localhost';
  const port = typeof o.port === 'number' ? o.port : 6379;
  const db = typeof o.db === 'number' && o.db !== 0 ? `/${o.db}` : '';
  return maskUrl(`${scheme}://${auth}${host.includes(':') ? `[${host}]` : host}:${port}${db}`);
}
