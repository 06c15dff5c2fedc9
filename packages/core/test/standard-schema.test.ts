import { describe, expect, it } from 'vitest';
import { defineEvent, isEvcoError, type StandardSchemaV1 } from '../src/index.js';

/**
 * Why zod can stay a plain dependency of core: an app's event schemas reach core only through
 * the Standard Schema interface, never as zod objects, so any validator (or another zod major)
 * works. This schema is hand-written: no zod at all.
 */
const amountSchema: StandardSchemaV1<unknown, { amount: number }> = {
  '~standard': {
    version: 1,
    vendor: 'hand-written',
    validate(value) {
      const amount = (value as { amount?: unknown } | null)?.amount;
      return typeof amount === 'number' && amount > 0
        ? { value: { amount } }
        : { issues: [{ message: 'must be a positive number', path: ['amount'] }] };
    },
  },
};

describe('defineEvent with a non-zod Standard Schema', () => {
  const PaymentReceived = defineEvent('PaymentReceived', amountSchema);

  it('creates typed events with the schema output', () => {
    const event = PaymentReceived.create({ aggregateId: 'p-1', data: { amount: 5 } });
    expect(event.eventData).toEqual({ amount: 5 });
    expect(PaymentReceived.is(event)).toBe(true);
  });

  it('reports the schema issues as an EventValidationError', () => {
    let error: unknown;
    try {
      PaymentReceived.create({ aggregateId: 'p-1', data: { amount: -1 } });
    } catch (e) {
      error = e;
    }
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect((error as Error).message).toMatch(/amount: must be a positive number/);
  });
});
