/**
 * `--restart always`: when a session's program exits, start it again after
 * a backoff: {@link RESTART_BACKOFF}.initialMs (1 s), doubling after each
 * quick exit up to maxMs (30 s); a run that lasted resetAfterMs (60 s) or
 * more starts the count again at 1 s. With `never` nothing is scheduled; a
 * dashboard's "Restart session" starts it at once in either mode
 * ({@link SessionRestarter.cancel}, then ask for a session).
 *
 * @module
 */
import type { Timers } from "./activity.ts";
import type { RestartMode } from "./session_flags.ts";

/** Backoff of `--restart always`. */
export const RESTART_BACKOFF = {
  /** Delay after the first quick exit. */
  initialMs: 1000,
  /** Longest delay. */
  maxMs: 30_000,
  /** A run at least this long resets the delay to `initialMs`. */
  resetAfterMs: 60_000,
} as const;

/** Options of {@link SessionRestarter}. */
export interface SessionRestarterOptions {
  mode: RestartMode;
  /** Called when a scheduled restart is due. */
  onRestart: () => void;
  /** Timer functions (a fake clock in tests); default the global ones. */
  timers?: Timers;
  /** Clock for run lengths (a fake clock in tests); default Date.now. */
  now?: () => number;
}

/** Decides when a session whose program exited is started again. */
export class SessionRestarter {
  #o: SessionRestarterOptions;
  #timers: Timers;
  #now: () => number;
  /** Quick exits in a row (each doubles the next delay). */
  #attempt = 0;
  #startedAt: number | undefined;
  #timer: unknown;

  constructor(options: SessionRestarterOptions) {
    this.#o = options;
    this.#timers = options.timers ?? globalThis;
    this.#now = options.now ?? Date.now;
  }

  /** Whether a restart is scheduled and not yet due. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** A session started running now (its run length counts from here). */
  started(): void {
    this.cancel();
    this.#startedAt = this.#now();
  }

  /**
   * The session's program exited: with `always`, schedule `onRestart`.
   * Returns the delay in ms, or null when nothing was scheduled (`never`).
   */
  ended(): number | null {
    const ranMs = this.#startedAt === undefined
      ? 0
      : this.#now() - this.#startedAt;
    this.#startedAt = undefined;
    if (this.#o.mode !== "always") return null;
    if (ranMs >= RESTART_BACKOFF.resetAfterMs) this.#attempt = 0;
    const delay = Math.min(
      RESTART_BACKOFF.initialMs * 2 ** this.#attempt,
      RESTART_BACKOFF.maxMs,
    );
    // Stop counting once at the cap, so the exponent never overflows.
    if (delay < RESTART_BACKOFF.maxMs) this.#attempt++;
    this.cancel();
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      this.#o.onRestart();
    }, delay);
    return delay;
  }

  /** Drop a scheduled restart (the agent stops, or one starts now). */
  cancel(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
