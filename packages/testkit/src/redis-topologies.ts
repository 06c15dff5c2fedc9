import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitFor } from './helpers.js';

/**
 * Local Redis topologies of a test's own (Sentinel, Cluster), every process on a free port in
 * a temporary directory, for tests of anything that reaches Redis that way (publisher-redis,
 * the CLI). Needs `redis-server` and `redis-cli` on PATH, and ioredis (an optional peer of
 * `@evco/testkit`: this entry point, `@evco/testkit/redis`, is the only one that loads it).
 * `stop()` kills every process and removes the directory; so does the runner's exit, should a
 * test die before its `stop()`.
 */
const run = promisify(execFile);
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface Node {
  host: string;
  port: number;
}

interface Group {
  dir: string;
  spawn(args: string[], port: number, ready: string): Promise<ChildProcess>;
  stop(): Promise<void>;
}

function group(name: string): Group {
  const dir = mkdtempSync(join(tmpdir(), `evco-${name}-`));
  const mine: ChildProcess[] = [];
  let stopped: Promise<void> | undefined;
  return {
    dir,
    spawn: (args, port, ready) =>
      new Promise<ChildProcess>((resolve, reject) => {
        const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        children.add(child);
        mine.push(child);
        let output = '';
        const onData = (data: Buffer) => {
          output += data.toString();
          if (output.includes(ready)) {
            child.stdout!.off('data', onData);
            child.stdout!.resume();
            resolve(child);
          }
        };
        child.stdout!.on('data', onData);
        child.stderr!.resume();
        child.once('error', (error) => reject(new Error(`cannot start redis-server: ${error.message}`)));
        child.once('exit', (code) => {
          children.delete(child);
          reject(new Error(`redis-server on ${port} exited (${code}) before it was ready:\n${output}`));
        });
      }),
    stop: () => {
      stopped ??= (async () => {
        await Promise.all(
          mine.map(
            (child) =>
              new Promise<void>((resolve) => {
                if (child.exitCode !== null || child.signalCode !== null) return resolve();
                child.once('exit', () => resolve());
                child.kill('SIGKILL');
              }),
          ),
        );
        for (const child of mine) children.delete(child);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** Runs `start` and stops the group if it throws, so a half-built topology leaves nothing running. */
async function building<T>(g: Group, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await g.stop();
    throw error;
  }
}

const SERVER_ARGS = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
const READY = 'Ready to accept connections';

async function withClient<T>(
  node: Node,
  fn: (client: Redis) => Promise<T>,
  password?: string | undefined,
): Promise<T> {
  const client = new Redis({
    ...node,
    ...(password === undefined ? {} : { password }),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

export interface SentinelTopologyOptions {
  /** `requirepass` (and `masterauth`) of the master and the replica. */
  password?: string | undefined;
  /** `requirepass` of the sentinels themselves (they use it with each other too). */
  sentinelPassword?: string | undefined;
}

export interface SentinelTopology {
  /** The master group name the sentinels monitor. */
  readonly name: string;
  readonly sentinels: Node[];
  /** The master's port right now, as the sentinels report it. */
  masterPort(): Promise<number>;
  /**
   * `SENTINEL FAILOVER`: the replica becomes master, the old master its replica. Resolves once
   * the sentinels report the new master and it accepts writes; returns its port.
   */
  failover(): Promise<number>;
  stop(): Promise<void>;
}

/** One master, one replica, three sentinels (quorum 2), all settled before it resolves. */
export async function startSentinelTopology(
  options: SentinelTopologyOptions = {},
): Promise<SentinelTopology> {
  const g = group('sentinel');
  const name = 'evco-master';
  const { password, sentinelPassword } = options;
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  const atSentinel = <T>(node: Node, fn: (client: Redis) => Promise<T>) =>
    withClient(node, fn, sentinelPassword);
  return building(g, async () => {
    const [masterPort, replicaPort, ...sentinelPorts] = await Promise.all(
      Array.from({ length: 5 }, () => freePort()),
    );
    await g.spawn(['--port', String(masterPort), ...SERVER_ARGS, ...auth], masterPort!, READY);
    await g.spawn(
      [
        '--port',
        String(replicaPort),
        ...SERVER_ARGS,
        ...auth,
        '--replicaof',
        '127.0.0.1',
        String(masterPort),
      ],
      replicaPort!,
      READY,
    );
    const sentinels = sentinelPorts.map((port) => ({ host: '127.0.0.1', port }));
    await Promise.all(
      sentinels.map(({ port }) => {
        const conf = join(g.dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 5000`,
            ...(password === undefined ? [] : [`sentinel auth-pass ${name} ${password}`]),
            ...(sentinelPassword === undefined ? [] : [`requirepass ${sentinelPassword}`]),
            '',
          ].join('\n'),
        );
        return g.spawn([conf, '--sentinel'], port, '+monitor master');
      }),
    );
    const masterAt = async (): Promise<number> =>
      atSentinel(sentinels[0]!, async (s) => {
        const [, port] = (await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
        return Number(port);
      });
    // Ready for a failover: every sentinel knows the other two and sees the replica in sync.
    const settled = () =>
      Promise.all(
        sentinels.map((node) =>
          atSentinel(node, async (s) => {
            const peers = (await s.call('SENTINEL', 'SENTINELS', name)) as unknown[];
            const replicas = (await s.call('SENTINEL', 'REPLICAS', name)) as string[][];
            const linked = replicas.some((fields) => {
              const status = fields[fields.indexOf('master-link-status') + 1];
              const flags = fields[fields.indexOf('flags') + 1] ?? '';
              return status === 'ok' && !flags.includes('down');
            });
            return peers.length === sentinels.length - 1 && linked;
          }),
        ),
      ).then((all) => all.every(Boolean));
    await waitFor(settled, { timeoutMs: 30_000, intervalMs: 200, message: 'the sentinels did not settle' });
    return {
      name,
      sentinels,
      masterPort: masterAt,
      failover: async () => {
        const before = await masterAt();
        await atSentinel(sentinels[0]!, (s) => s.call('SENTINEL', 'FAILOVER', name));
        const after = await waitFor(
          async () => {
            const port = await masterAt();
            if (port === before) return undefined;
            const role = await withClient({ host: '127.0.0.1', port }, (c) => c.call('ROLE'), password);
            return (role as string[])[0] === 'master' ? port : undefined;
          },
          { timeoutMs: 20_000, intervalMs: 50, message: 'the failover did not complete' },
        );
        return after;
      },
      stop: g.stop,
    };
  });
}

/** The local redis-server's major version (0 when it cannot be run). */
export function redisServerMajor(): number {
  try {
    const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    return Number(/v=(\d+)\./.exec(out)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface ClusterTopology {
  /** The masters, any of which serves as a seed node. */
  readonly nodes: Node[];
  /**
   * Kills one master (SIGKILL), waits `downMs`, and starts it again with its cluster config, as a
   * crash and a supervisor's restart would; resolves once the cluster is ok again.
   */
  restart(node: Node, downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `masters` cluster-enabled servers joined by `redis-cli --cluster create`, state ok everywhere. */
export async function startCluster(masters = 3): Promise<ClusterTopology> {
  const g = group('cluster');
  return building(g, async () => {
    const ports = await Promise.all(Array.from({ length: masters * 2 }, () => freePort()));
    const nodes: Node[] = [];
    const processes = new Map<number, { child: ChildProcess; args: string[] }>();
    for (let i = 0; i < masters; i++) {
      const port = ports[i]!;
      // The cluster bus port is set explicitly: the default (port + 10000) may not be free.
      const args = [
        '--port',
        String(port),
        '--cluster-port',
        String(ports[masters + i]),
        ...SERVER_ARGS,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
      ];
      processes.set(port, { child: await g.spawn(args, port, READY), args });
      nodes.push({ host: '127.0.0.1', port });
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const clusterOk = () =>
      waitFor(
        async () =>
          (
            await Promise.all(
              nodes.map((n) =>
                withClient(n, async (c) => String(await c.call('CLUSTER', 'INFO'))).catch(() => ''),
              ),
            )
          ).every((info) => info.includes('cluster_state:ok')),
        { timeoutMs: 30_000, intervalMs: 100, message: 'the cluster did not reach cluster_state:ok' },
      );
    await clusterOk();
    return {
      nodes,
      restart: async (node, downMs = 0) => {
        const running = processes.get(node.port)!;
        await new Promise<void>((resolve) => {
          running.child.once('exit', () => resolve());
          running.child.kill('SIGKILL');
        });
        await new Promise((resolve) => setTimeout(resolve, downMs));
        running.child = await g.spawn(running.args, node.port, READY);
        await clusterOk();
      },
      stop: g.stop,
    };
  });
}
