export {
  type ClusterOptions,
  type ClusterTopology,
  type Node as RedisTopologyNode,
  redisServerMajor,
  type SentinelTopology,
  type SentinelTopologyOptions,
  startCluster,
  startSentinelTopology,
} from './redis-topologies.js';
