/**
 * Values made once per (event type, handler) and kept for the coordinator's life: a map of maps,
 * so a lookup on the attempt path builds no key string. `make` is passed once, at construction,
 * so a lookup allocates nothing either.
 */
export class PairCache<T> {
  readonly #byType = new Map<string, Map<string, T>>();
  readonly #make: (eventType: string, handler: string) => T;

  constructor(make: (eventType: string, handler: string) => T) {
    this.#make = make;
  }

  get(eventType: string, handler: string): T {
    let byHandler = this.#byType.get(eventType);
    if (!byHandler) {
      byHandler = new Map();
      this.#byType.set(eventType, byHandler);
    }
    let value = byHandler.get(handler);
    if (value === undefined) {
      value = this.#make(eventType, handler);
      byHandler.set(handler, value);
    }
    return value;
  }
}
