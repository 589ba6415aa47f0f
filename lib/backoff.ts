/**
 * Reconnect backoff shared by the agent and the dashboard client
 * (docs/protocol.md, "Client behaviour"): immediately, then 1 s, 2 s, 4 s, 8 s, 16 s,
 * capped at 30 s, each ±20 %, reset after a connection stayed up 10 s.
 * Pure: no Deno or DOM APIs, no timers.
 *
 * @module
 */

/** Delay before the second attempt; doubles on every further attempt. */
export const BACKOFF_BASE_MS = 1000;
/** Largest delay before jitter. */
export const BACKOFF_CAP_MS = 30_000;
/** Relative jitter applied to every non-zero delay (±20 %). */
export const BACKOFF_JITTER = 0.2;
/** A connection that stayed up this long resets the attempt counter. */
export const BACKOFF_RESET_AFTER_MS = 10_000;

/**
 * Milliseconds to wait before reconnect attempt number `attempt` (0-based):
 * immediately, then 1 s, 2 s, 4 s, 8 s, 16 s, capped at 30 s, each ±20 %.
 *
 * @param attempt Consecutive failed attempts so far (0 for the first retry).
 * @param random Source of randomness in [0, 1); 0.5 means no jitter.
 * @throws {RangeError} When `attempt` is not a non-negative integer.
 *
 * @example
 * ```ts
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
  if (attempt === 0) return 0;
  // Clamp the exponent so huge attempt counts do not overflow to Infinity.
  const exponent = Math.min(attempt - 1, 30);
  const base = Math.min(BACKOFF_BASE_MS * 2 ** exponent, BACKOFF_CAP_MS);
  const factor = 1 + BACKOFF_JITTER * (2 * random() - 1);
  return Math.round(base * factor);
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
