import { describePublisherContract } from '@evco/testkit';
import { createInProcPublisher } from '../src/index.js';

describePublisherContract({ name: 'publisher-inproc', create: async () => createInProcPublisher() });
