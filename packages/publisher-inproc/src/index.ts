export { createInProcPublisher, type InProcPublisher } from './inproc-publisher.js';
