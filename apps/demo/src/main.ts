/**
 * `pnpm demo` (foundation version): two toy modules that only talk through events, on the
 * in-memory store and the in-process publisher. Prints the chain of handled events and the
 * coordinator status. The HTTP service replaces this entry point.
 */
import { createConsoleLogger, createCoordinator, type RecordedEvent } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';

const coordinator = await createCoordinator({
  store: createMemoryStore(),
  publisher: createInProcPublisher(),
  logger: createConsoleLogger({ level: 'warn' }),
});

const chain: string[] = [];
const note = (module: string, event: RecordedEvent) =>
  chain.push(
    `${module.padEnd(8)} handled ${event.eventType.padEnd(22)} correlation=${event.metadata.correlationId?.slice(-8)} causation=${event.metadata.causationId?.slice(-8) ?? '(root)'}`,
  );

// The "billing" module reacts to users and announces what it did.
await coordinator.registerHandler(
  'UserRegistered',
  async (event, ctx) => {
    note('billing', event);
    await ctx.publish({ eventType: 'TrialStarted', aggregateId: event.aggregateId, eventData: { days: 14 } });
  },
  { name: 'billing.startTrial' },
);
// The "mailer" module reacts to both, never calling billing directly.
await coordinator.registerHandler(
  ['UserRegistered', 'TrialStarted'],
  async (event) => {
    note('mailer', event);
  },
  { name: 'mailer.sendEmail' },
);

for (const email of ['ada@example.com', 'alan@example.com']) {
  await coordinator.publishEvent({ eventType: 'UserRegistered', aggregateId: email, eventData: { email } });
}
await coordinator.waitForIdle();

console.log('Handled chain:');
for (const line of chain) console.log(`  ${line}`);
const status = await coordinator.getCoordinatorStatus();
console.log('\nStatus:');
console.log(
  JSON.stringify(
    {
      store: status.store.name,
      publisher: status.publisher.name,
      handlers: status.handlers.map((h) => h.name),
      counts: status.counts,
    },
    null,
    2,
  ),
);
await coordinator.shutdown();
