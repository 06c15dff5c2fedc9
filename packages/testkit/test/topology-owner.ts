// Started by redis-topologies.int.test.ts: builds a Sentinel topology and a Cluster with
// replicas, reports their directories and ports, then exits without calling stop(), as a test
// runner's worker does when a test dies before its afterAll.
import { startCluster, startSentinelTopology } from '../src/redis.js';

const sentinel = await startSentinelTopology();
const cluster = await startCluster({ masters: 3, replicas: 1 });
process.send!({
  type: 'started',
  dirs: [sentinel.dir, cluster.dir],
  ports: [...sentinel.sentinels, ...cluster.nodes, ...cluster.replicas].map((n) => n.port),
});
process.on('message', () => process.exit(0));
