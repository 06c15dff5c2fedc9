/**
 * How a fleet worker process (evco's or the raw one) reports to the bench over IPC: the events it
 * ran, in batches every 20 ms, each with the wall-clock time its run started (same machine as the
 * parent, so the parent can subtract its publish times) and, where the worker reads the event's row
 * first, when that read came back; on 'stop', the CPU time it used since 'mark' (or since it
 * started), measured before it shuts down.
 */
export const wallClock = () => performance.timeOrigin + performance.now();

export interface RunReporter {
  record(id: string, startedAt: number, readAt?: number): void;
  /**
   * Tells the parent the worker is ready; on 'stop', runs `stop`, sends what is left and its CPU
   * time, and detaches.
   */
  ready(stop: () => Promise<void>): void;
}

export function runReporter(): RunReporter {
  const send = (message: Record<string, unknown>) => process.send!(message);
  let ids: string[] = [];
  let startedAt: number[] = [];
  let readAt: number[] = [];
  const flush = () => {
    if (ids.length === 0) return;
    send({ type: 'ran', ids, startedAt, ...(readAt.length > 0 ? { readAt } : {}) });
    ids = [];
    startedAt = [];
    readAt = [];
  };
  const flusher = setInterval(flush, 20);
  let cpuAtMark = process.cpuUsage();
  return {
    record(id, started, read) {
      ids.push(id);
      startedAt.push(started);
      if (read !== undefined) readAt.push(read);
    },
    ready(stop) {
      process.on('message', async (message: { type: string }) => {
        if (message.type === 'mark') {
          cpuAtMark = process.cpuUsage();
          return;
        }
        if (message.type !== 'stop') return;
        const cpu = process.cpuUsage(cpuAtMark);
        await stop();
        clearInterval(flusher);
        flush();
        send({ type: 'stopped', cpuUs: cpu.user + cpu.system });
        process.disconnect();
      });
      send({ type: 'ready' });
    },
  };
}
