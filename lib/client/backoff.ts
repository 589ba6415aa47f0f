/**
 * Reconnect backoff of the dashboard client (PROTOCOL.md, "Close codes"):
 * immediately, then 1 s, 2 s, 4 s, 8 s, 16 s, capped at 30 s, each ±20 %,
 * reset after a connection has stayed up 10 s.
 * @module
 */

/** Base delays in ms by attempt; later attempts use {@link BACKOFF_CAP_MS}. */
export const BACKOFF_BASE_MS: readonly number[] = [
  0,
  1000,
  2000,
  4000,
  8000,
  16000,
];
/** Longest delay between two attempts. */
export const BACKOFF_CAP_MS = 30_000;
/** Relative jitter applied to every delay (±20 %). */
export const BACKOFF_JITTER = 0.2;
/** A connection that stayed up this long resets the schedule. */
export const BACKOFF_RESET_AFTER_MS = 10_000;

/**
 * Delay in ms before reconnect attempt `attempt` (0 = the first retry).
 *
 * @param attempt Zero-based attempt number; must be a non-negative integer.
 * @param random Source of randomness in [0, 1); 0.5 gives the exact base delay.
 * @throws {RangeError} When `attempt` is negative or not an integer.
 *
 * @example
 * ```ts
 * backoffDelay(0); // 0
 * backoffDelay(3, () => 0.5); // 4000
 * ```
 */
export function backoffDelay(
  attempt: number,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`Invalid attempt "${attempt}"`);
  }
  const base = attempt < BACKOFF_BASE_MS.length
    ? BACKOFF_BASE_MS[attempt]
    : BACKOFF_CAP_MS;
  const factor = 1 + (random() * 2 - 1) * BACKOFF_JITTER;
  return Math.round(Math.min(base, BACKOFF_CAP_MS) * factor);
}

/**
 * Counts reconnect attempts and resets once a connection stayed up long
 * enough. Time comes from `now` so tests can use fake clocks.
 */
export class Backoff {
  #attempt = 0;
  #openedAt: number | null = null;
  #now: () => number;
  #random: () => number;

  /** Create a tracker; `now` and `random` default to the real ones. */
  constructor(
    options: { now?: () => number; random?: () => number } = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Number of delays handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Delay before the next attempt; advances the attempt counter. */
  next(): number {
    return backoffDelay(this.#attempt++, this.#random);
  }

  /** Record that a connection opened. */
  opened(): void {
    this.#openedAt = this.#now();
  }

  /**
   * Record that the connection closed; resets the schedule when it had been
   * up for at least {@link BACKOFF_RESET_AFTER_MS}.
   */
  closed(): void {
    if (
      this.#openedAt !== null &&
      this.#now() - this.#openedAt >= BACKOFF_RESET_AFTER_MS
    ) {
      this.#attempt = 0;
    }
    this.#openedAt = null;
  }

  /** Start the schedule over. */
  reset(): void {
    this.#attempt = 0;
    this.#openedAt = null;
  }
}
