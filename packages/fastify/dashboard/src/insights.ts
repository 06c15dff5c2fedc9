/**
 * Per-handler lag and last error, which the status does not carry: derived from the oldest open
 * events (`GET {prefix}/unprocessed`, oldest first) and the dead letters. Pure, so it is tested
 * without a server.
 */
import type { DeadLetterJson, DeliveryJson, EventJson } from './types.js';

export interface UnprocessedJson {
  event: EventJson;
  deliveries: DeliveryJson[];
}

export interface HandlerInsight {
  /** Age of the handler's oldest open delivery, in ms. */
  lagMs: number | undefined;
  lastError: string | undefined;
  lastErrorAt: string | undefined;
}

/**
 * When a delivery started waiting: a live one when its event was stored; a replayed or retried
 * one when it was last queued (its event may be old).
 */
function waitingSince(event: EventJson, delivery: DeliveryJson): number {
  const recorded = Date.parse(event.recordedAt);
  return delivery.isReplay ? Math.max(recorded, Date.parse(delivery.updatedAt)) : recorded;
}

export function handlerInsights(
  unprocessed: readonly UnprocessedJson[],
  deadLetters: readonly DeadLetterJson[],
  now: number,
): Map<string, HandlerInsight> {
  const out = new Map<string, HandlerInsight>();
  const entry = (handler: string): HandlerInsight => {
    let e = out.get(handler);
    if (!e) {
      e = { lagMs: undefined, lastError: undefined, lastErrorAt: undefined };
      out.set(handler, e);
    }
    return e;
  };
  const noteError = (d: DeliveryJson) => {
    if (!d.lastError) return;
    const e = entry(d.handler);
    if (e.lastErrorAt === undefined || Date.parse(d.updatedAt) > Date.parse(e.lastErrorAt)) {
      e.lastError = d.lastError;
      e.lastErrorAt = d.updatedAt;
    }
  };
  for (const u of unprocessed) {
    for (const d of u.deliveries) {
      noteError(d);
      if (d.status !== 'pending' && d.status !== 'running') continue;
      const e = entry(d.handler);
      const lag = Math.max(0, now - waitingSince(u.event, d));
      if (e.lagMs === undefined || lag > e.lagMs) e.lagMs = lag;
    }
  }
  for (const dl of deadLetters) noteError(dl.delivery);
  return out;
}
