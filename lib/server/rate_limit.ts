/**
 * A sliding-window limit per key (for example commands per user per minute),
 * shared by every connection of that key.
 *
 * @module
 */

/** Counts events per key within a time window. */
export class SlidingWindowLimit {
  #events = new Map<string, number[]>();
  readonly limit: number;
  readonly windowMs: number;

  /** @throws {RangeError} for a non-positive limit or window. */
  constructor(limit: number, windowMs: number) {
    if (!(limit > 0) || !(windowMs > 0)) {
      throw new RangeError("limit and windowMs must be positive");
    }
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Record an event for `key` if under the limit; returns whether it was. */
  take(key: string, now: number = Date.now()): boolean {
    const recent = (this.#events.get(key) ?? []).filter((t) =>
      now - t < this.windowMs
    );
    if (recent.length >= this.limit) {
      this.#events.set(key, recent);
      return false;
    }
    recent.push(now);
    this.#events.set(key, recent);
    return true;
  }
}
