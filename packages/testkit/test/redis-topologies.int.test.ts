import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnIpcProcess } from '../src/index.js';
import { redisServerMajor, startCluster, startSentinelTopology } from '../src/redis.js';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

// `--cluster-port` arrived in Redis 7.
describe.skipIf(redisServerMajor() < 7)('Redis topologies leave nothing behind', () => {
  it('stop() ends every process and removes the directory, after a failover and its full sync', async () => {
    const sentinel = await startSentinelTopology();
    await sentinel.failover();
    const cluster = await startCluster({ masters: 3, replicas: 1 });
    await cluster.failover(cluster.replicas[0]!);
    const ports = [...sentinel.sentinels, ...cluster.nodes, ...cluster.replicas].map((n) => n.port);
    await Promise.all([sentinel.stop(), cluster.stop()]);
    expect([existsSync(sentinel.dir), existsSync(cluster.dir)]).toEqual([false, false]);
    expect(await Promise.all(ports.map(listening))).toEqual(ports.map(() => false));
  });

  it('a process that exits without stop() ends every process and removes the directories', async () => {
    for (let run = 0; run < 2; run++) {
      const owner = spawnIpcProcess<{ type: string; dirs: string[]; ports: number[] }>(
        fileURLToPath(new URL('./topology-owner.ts', import.meta.url)),
      );
      const { dirs, ports } = await owner.next('started', { timeoutMs: 90_000 });
      expect(dirs.map(existsSync)).toEqual([true, true]);
      owner.send({ type: 'exit' });
      expect(await owner.exited).toBe(0);
      expect(dirs.filter(existsSync)).toEqual([]);
      expect(await Promise.all(ports.map(listening))).toEqual(ports.map(() => false));
    }
  });
});
