export { createTestCoordinator, fastRetry, replayAll, type TestAdapters } from './coordinator.js';
export {
  type DifferentialOptions,
  describeDifferentialTest,
  runDifferential,
  seededRandom,
} from './differential.js';
export { freePort } from './free-port.js';
export { collect, makeEvent, resolveServiceUrl, settle, validationIssuePaths, waitFor } from './helpers.js';
export { type IpcMessage, type IpcProcess, spawnIpcProcess } from './ipc-process.js';
export { expectJsonSafe } from './json-safe.js';
export {
  type PrivatePostgres,
  type PrivatePostgresOptions,
  startPrivatePostgres,
} from './private-postgres.js';
export { type PrivateRedis, startPrivateRedis } from './private-redis.js';
export { describePublisherContract, type PublisherContractOptions } from './publisher-contract.js';
export { type LogEntry, recordingLogger } from './recording-logger.js';
export { pruneAll } from './retention-contract.js';
export { describeRetentionEnforcement, type RetentionEnforcementOptions } from './retention-enforcement.js';
export {
  describeEventStoreContract,
  type EventStoreContractCapabilities,
  type EventStoreContractOptions,
} from './store-contract.js';
export { TcpRelay } from './tcp-relay.js';
export { makeTestTls, redisTlsArgs, type TestTls } from './test-tls.js';
export { THROWN_VALUES, type ThrownValueCase } from './thrown-values.js';
