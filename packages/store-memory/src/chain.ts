/**
 * The unfinished deliveries of one (handler, aggregate), in event-position order. Only the head
 * may be claimed (per-aggregate ordering). Removal is almost always at the head, so the head is
 * an index into the array rather than a `shift()` that moves every element behind it.
 */
export class Chain<T> {
  #items: Array<T | undefined> = [];
  #start = 0;
  readonly #position: (item: T) => number | bigint;

  constructor(position: (item: T) => number | bigint) {
    this.#position = position;
  }

  get size(): number {
    return this.#items.length - this.#start;
  }

  get head(): T | undefined {
    return this.#items[this.#start];
  }

  /** Inserts in position order (appends in the common case); returns true when it became the head. */
  insert(item: T): boolean {
    const items = this.#items;
    const p = this.#position(item);
    let i = items.length;
    while (i > this.#start && this.#position(items[i - 1]!) > p) i--;
    if (i === items.length) items.push(item);
    else items.splice(i, 0, item);
    return i === this.#start;
  }

  /** Removes the item; returns true when it was the head (the next one may now be claimable). */
  remove(item: T): boolean {
    const items = this.#items;
    if (items[this.#start] === item) {
      items[this.#start++] = undefined;
      if (this.#start > 64 && this.#start * 2 > items.length) {
        this.#items = items.slice(this.#start);
        this.#start = 0;
      }
      return true;
    }
    const i = items.indexOf(item, this.#start);
    if (i >= 0) items.splice(i, 1);
    return false;
  }
}
