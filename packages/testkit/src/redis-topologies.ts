import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitFor } from './helpers.js';
import { redisTlsArgs, type TestTls } from './test-tls.js';

/**
 * Local Redis topologies of a test's own (Sentinel, Cluster), every process on a free port in
 * a temporary directory, for tests of anything that reaches Redis that way (publisher-redis,
 * the CLI). Needs `redis-server` and `redis-cli` on PATH, and ioredis (an optional peer of
 * `@evco/testkit`: this entry point, `@evco/testkit/redis`, is the only one that loads it).
 * `stop()` kills every process and removes the directory; so does the runner's exit, should a
 * test die before its `stop()` (or a topology still be starting when its hook timed out).
 */
const run = promisify(execFile);
const children = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  // Synchronous, as an exit handler must be; a server may finish the write it was in (a
  // replica's RDB of a full sync) after the signal, hence the retries on ENOTEMPTY.
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
});

export interface Node {
  host: string;
  port: number;
}

interface Group {
  readonly dir: string;
  spawn(args: string[], port: number, ready: string): Promise<ChildProcess>;
  stop(): Promise<void>;
}

function group(name: string): Group {
  const dir = mkdtempSync(join(tmpdir(), `evco-${name}-`));
  dirs.add(dir);
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
        dirs.delete(dir);
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

/** How the topology's servers are reached: their password, TLS with the test's CA. */
interface Access {
  password?: string | undefined;
  tls?: TestTls | undefined;
}

async function withClient<T>(node: Node, fn: (client: Redis) => Promise<T>, access: Access = {}): Promise<T> {
  const { password, tls } = access;
  const client = new Redis({
    ...node,
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls: { ca: tls.ca } }),
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
  /**
   * Every server (master, replica, sentinels) serves TLS only with this certificate
   * (`makeTestTls()`), replicates and monitors over TLS; clients need no certificate.
   */
  tls?: TestTls | undefined;
  /**
   * With `tls`, which hop serves it: `'all'` (default) as above; `'sentinels'`: clients reach
   * the sentinels over TLS only while the master and replica serve plain; `'data-nodes'`: the
   * master and replica serve TLS only (and replicate over it) while clients reach the sentinels
   * plain. In both mixed shapes a sentinel listens on a second port, which the sentinels use
   * with each other, over the data nodes' transport (`tls-replication` is one switch for both).
   */
  tlsOn?: 'all' | 'sentinels' | 'data-nodes' | undefined;
}

export interface SentinelTopology {
  /** The temporary directory of its processes (configuration, RDB files); `stop()` removes it. */
  readonly dir: string;
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
  const { password, sentinelPassword, tls, tlsOn = 'all' } = options;
  const dataTls = tlsOn === 'sentinels' ? undefined : tls;
  const sentinelTls = tlsOn === 'data-nodes' ? undefined : tls;
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  const listen = (port: number) =>
    dataTls ? redisTlsArgs(dataTls, port, { peers: 'replication' }) : ['--port', String(port)];
  // A sentinel's port for clients, and in a mixed shape the other one for its peers.
  const sentinelListen = (port: number, peerPort: number) =>
    !tls || tlsOn === 'all'
      ? listen(port)
      : tlsOn === 'sentinels'
        ? redisTlsArgs(tls, port, { plainPort: peerPort })
        : redisTlsArgs(tls, peerPort, { plainPort: port, peers: 'replication' });
  const atSentinel = <T>(node: Node, fn: (client: Redis) => Promise<T>) =>
    withClient(node, fn, { password: sentinelPassword, tls: sentinelTls });
  return building(g, async () => {
    const [masterPort, replicaPort, ...sentinelPorts] = await Promise.all(
      Array.from({ length: 8 }, () => freePort()),
    );
    await g.spawn([...listen(masterPort!), ...SERVER_ARGS, ...auth], masterPort!, READY);
    await g.spawn(
      [...listen(replicaPort!), ...SERVER_ARGS, ...auth, '--replicaof', '127.0.0.1', String(masterPort)],
      replicaPort!,
      READY,
    );
    const sentinels = sentinelPorts.slice(0, 3).map((port) => ({ host: '127.0.0.1', port }));
    await Promise.all(
      sentinels.map(({ port }, n) => {
        const conf = join(g.dir, `sentinel-${port}.conf`);
        writeFileSync(
          conf,
          [
            // `--name value` pairs as configuration lines.
            ...sentinelListen(port, sentinelPorts[3 + n]!).flatMap((arg, i, all) =>
              i % 2 ? [] : [`${arg.slice(2)} ${all[i + 1]}`],
            ),
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
      dir: g.dir,
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
            const role = await withClient({ host: '127.0.0.1', port }, (c) => c.call('ROLE'), {
              password,
              tls: dataTls,
            });
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
  /** The temporary directory of its processes (cluster configuration, RDB files); `stop()` removes it. */
  readonly dir: string;
  /** The masters as started, any of which serves as a seed node. */
  readonly nodes: Node[];
  /** The replicas as started (`replicas` per master; none by default). */
  readonly replicas: Node[];
  /**
   * Kills one master (SIGKILL), waits `downMs`, and starts it again with its cluster config, as a
   * crash and a supervisor's restart would; resolves once the cluster is ok again.
   */
  restart(node: Node, downMs?: number): Promise<void>;
  /** The shard serving `key`'s slot right now: its master and replicas (`CLUSTER SLOTS`). */
  shardOf(key: string): Promise<{ slot: number; master: Node; replicas: Node[] }>;
  /**
   * `CLUSTER FAILOVER` on `replica` (coordinated with its master, no write lost): it becomes the
   * master of its shard and the old master its replica. Resolves once every node agrees and the
   * demoted master replicates from it.
   */
  failover(replica: Node): Promise<void>;
  /**
   * Kills a master (SIGKILL) for good, as a crash with no restart: resolves once the cluster has
   * promoted one of its replicas (after `cluster-node-timeout`, 2 s) and the other nodes report
   * cluster_state:ok with none of the slots on it.
   */
  kill(master: Node): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** @default 3 */
  masters?: number | undefined;
  /** Replicas of each master. @default 0 */
  replicas?: number | undefined;
  /**
   * Every node serves TLS only with this certificate (`makeTestTls()`), the cluster bus and
   * replication too; clients need no certificate.
   */
  tls?: TestTls | undefined;
}

const hostPort = (n: Node) => `${n.host}:${n.port}`;

/**
 * Cluster-enabled servers joined by `redis-cli --cluster create` (`startCluster(3)` or
 * `startCluster({ masters, replicas, tls })`), state ok everywhere and every replica in sync.
 */
export async function startCluster(options: number | ClusterOptions = 3): Promise<ClusterTopology> {
  const { masters = 3, replicas = 0, tls } = typeof options === 'number' ? { masters: options } : options;
  const count = masters * (1 + replicas);
  const access: Access = { tls };
  const g = group('cluster');
  return building(g, async () => {
    const ports = await Promise.all(Array.from({ length: count * 2 }, () => freePort()));
    const all: Node[] = [];
    const processes = new Map<number, { child: ChildProcess; args: string[] }>();
    for (let i = 0; i < count; i++) {
      const port = ports[i]!;
      // The cluster bus port is set explicitly: the default (port + 10000) may not be free.
      const args = [
        ...(tls ? redisTlsArgs(tls, port, { peers: 'cluster' }) : ['--port', String(port)]),
        '--cluster-port',
        String(ports[count + i]),
        ...SERVER_ARGS,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
      ];
      processes.set(port, { child: await g.spawn(args, port, READY), args });
      all.push({ host: '127.0.0.1', port });
    }
    await run('redis-cli', [
      ...(tls ? ['--tls', '--cacert', tls.caFile] : []),
      '--cluster',
      'create',
      ...all.map(hostPort),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    const at = <T>(n: Node, fn: (client: Redis) => Promise<T>) => withClient(n, fn, access);
    const role = (n: Node) => at(n, async (c) => (await c.call('ROLE')) as unknown[]).catch(() => []);
    const dead = new Set<number>();
    const alive = () => all.filter((n) => !dead.has(n.port));
    const clusterOk = () =>
      waitFor(
        async () =>
          (
            await Promise.all(
              alive().map((n) => at(n, async (c) => String(await c.call('CLUSTER', 'INFO'))).catch(() => '')),
            )
          ).every((info) => info.includes('cluster_state:ok')),
        { timeoutMs: 30_000, intervalMs: 100, message: 'the cluster did not reach cluster_state:ok' },
      );
    // Every replica has its master's data: a coordinated failover needs a replica in sync.
    const replicasInSync = () =>
      waitFor(
        async () =>
          (await Promise.all(alive().map(role))).every(
            (r) => r[0] === 'master' || (r[0] === 'slave' && r[3] === 'connected'),
          ),
        { timeoutMs: 30_000, intervalMs: 100, message: 'the replicas did not get in sync' },
      );
    await clusterOk();
    await replicasInSync();
    const roles = await Promise.all(all.map(role));
    /** The master ports in a node's slot map. */
    const slotMasters = (n: Node) =>
      at(n, async (c) =>
        ((await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>).map(
          ([, , [, port]]) => Number(port),
        ),
      );
    const shardOf = async (key: string) => {
      for (const seed of alive()) {
        const found = await at(seed, async (c) => {
          const slot = Number(await c.call('CLUSTER', 'KEYSLOT', key));
          const ranges = (await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
          const range = ranges.find(([from, to]) => from <= slot && slot <= to);
          return range && { slot, master: { host: range[2][0], port: Number(range[2][1]) } };
        }).catch(() => undefined);
        if (!found) continue;
        // Its replicas as they say themselves (CLUSTER SLOTS leaves out one it deems unavailable).
        const nodes = alive();
        const of = await Promise.all(nodes.map(role));
        const replicas = nodes.filter(
          (_, i) => of[i]![0] === 'slave' && Number(of[i]![2]) === found.master.port,
        );
        return { ...found, replicas };
      }
      throw new Error(`no node of the cluster serves the slot of ${key}`);
    };
    return {
      dir: g.dir,
      nodes: all.filter((_, i) => roles[i]![0] === 'master'),
      replicas: all.filter((_, i) => roles[i]![0] === 'slave'),
      restart: async (node, downMs = 0) => {
        const running = processes.get(node.port)!;
        await killed(running.child);
        await new Promise((resolve) => setTimeout(resolve, downMs));
        running.child = await g.spawn(running.args, node.port, READY);
        await clusterOk();
      },
      shardOf,
      failover: async (replica) => {
        const [, oldHost, oldPort] = (await role(replica)) as [string, string, number];
        await at(replica, (c) => c.call('CLUSTER', 'FAILOVER'));
        await waitFor(
          async () => {
            const [promoted, demoted] = await Promise.all([
              role(replica),
              role({ host: oldHost, port: Number(oldPort) }),
            ]);
            return promoted[0] === 'master' && demoted[0] === 'slave' && Number(demoted[2]) === replica.port;
          },
          {
            timeoutMs: 30_000,
            intervalMs: 50,
            message: `the failover to ${hostPort(replica)} did not complete`,
          },
        );
        // The roles change first; each node's slot map follows by gossip. Until every node maps
        // the shard to the promoted replica, shardOf (which asks one node) could read the old
        // master (CI, 29 November: the test saw the old master's port right after the failover).
        await waitFor(
          async () =>
            (await Promise.all(alive().map((n) => slotMasters(n).catch(() => [] as number[])))).every(
              (masters) => masters.includes(replica.port) && !masters.includes(Number(oldPort)),
            ),
          {
            timeoutMs: 30_000,
            intervalMs: 50,
            message: `not every node maps a shard to ${hostPort(replica)} after its failover`,
          },
        );
        await clusterOk();
        await replicasInSync();
      },
      kill: async (master) => {
        await killed(processes.get(master.port)!.child);
        dead.add(master.port);
        const slotMap = (n: Node) =>
          at(n, async (c) => (await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>);
        await waitFor(
          async () =>
            (await Promise.all(alive().map((n) => slotMap(n).catch(() => [])))).every(
              (ranges) => ranges.length > 0 && ranges.every(([, , [, port]]) => Number(port) !== master.port),
            ),
          { timeoutMs: 30_000, intervalMs: 100, message: `no replica took over from ${hostPort(master)}` },
        );
        await clusterOk();
      },
      stop: g.stop,
    };
  });
}

/** SIGKILL; resolves once the process is gone. */
function killed(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
