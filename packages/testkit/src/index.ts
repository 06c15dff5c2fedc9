export { freePort } from './free-port.js';
export { collect, makeEvent, resolveServiceUrl, settle, validationIssuePaths, waitFor } from './helpers.js';
export { describePublisherContract, type PublisherContractOptions } from './publisher-contract.js';
export { describeEventStoreContract, type EventStoreContractOptions } from './store-contract.js';
export { THROWN_VALUES, type ThrownValueCase } from './thrown-values.js';
