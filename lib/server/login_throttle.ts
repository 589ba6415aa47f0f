/**
 * Failed sign-ins per client address (IPv6 by /64, see {@link addressKey}):
 * after `limit` failures within the window, further attempts from that
 * address are refused (429) until the oldest failure leaves the window,
 * whether or not they would succeed.
 *
 * @module
 */
import { addressKey } from "./address.ts";

/** Addresses remembered at most; the one with the oldest failure goes first. */
export const MAX_TRACKED_ADDRESSES = 10_000;

/** Counts failed sign-ins per address in a sliding window. */
export class LoginThrottle {
  /** Failure times per address, oldest first; the map is ordered by last failure. */
  #failures = new Map<string, number[]>();
  readonly limit: number;
  readonly windowMs: number;
  readonly #maxAddresses: number;

  /** @throws {RangeError} for a non-positive limit, window or address cap. */
  constructor(
    limit: number,
    windowMs: number,
    maxAddresses = MAX_TRACKED_ADDRESSES,
  ) {
    if (!(limit > 0) || !(windowMs > 0) || !(maxAddresses > 0)) {
      throw new RangeError("limit, windowMs and maxAddresses must be positive");
    }
    this.limit = limit;
    this.windowMs = windowMs;
    this.#maxAddresses = maxAddresses;
  }

  /**
   * Milliseconds until `address` may try again, or 0 when it may now.
   */
  retryAfterMs(address: string, now: number = Date.now()): number {
    const recent = this.#recent(addressKey(address), now);
    if (recent.length < this.limit) return 0;
    return recent[recent.length - this.limit] + this.windowMs - now;
  }

  /** Record a failed sign-in from `address`. */
  fail(address: string, now: number = Date.now()): void {
    address = addressKey(address);
    const recent = this.#recent(address, now);
    recent.push(now);
    // Only the newest `limit` failures decide when the address is free.
    if (recent.length > this.limit) {
      recent.splice(0, recent.length - this.limit);
    }
    this.#failures.delete(address);
    this.#failures.set(address, recent);
    while (this.#failures.size > this.#maxAddresses) {
      this.#failures.delete(this.#failures.keys().next().value!);
    }
  }

  /**
   * Take back one failure recorded at `at` for `address` (a sign-in counted
   * as a failure while it was checked, which then succeeded).
   */
  forgive(address: string, at: number): void {
    address = addressKey(address);
    const times = this.#failures.get(address);
    const index = times?.lastIndexOf(at) ?? -1;
    if (!times || index < 0) return;
    times.splice(index, 1);
    if (times.length === 0) this.#failures.delete(address);
  }

  /** Number of addresses remembered. */
  get size(): number {
    return this.#failures.size;
  }

  #recent(address: string, now: number): number[] {
    const times = this.#failures.get(address);
    if (!times) return [];
    const recent = times.filter((t) => now - t < this.windowMs);
    if (recent.length === 0) this.#failures.delete(address);
    else if (recent.length !== times.length) {
      this.#failures.set(address, recent);
    }
    return recent;
  }
}
