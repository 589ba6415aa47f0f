/**
 * What the dashboard client does after its connection closed: stop for good
 * (signed out, forbidden, or a close code that says stop), or retry after a
 * delay over which transport. Network trouble is retried for ever: the
 * backoff of {@link Backoff}, each delay at most {@link MAX_RETRY_DELAY_MS}.
 * Counts WebSocket attempts in a row that never opened (the switch to SSE
 * after `fallbackAfter`).
 * @module
 */
import { shouldReconnect } from "../protocol.ts";
import { Backoff } from "../backoff.ts";
import type { StopReason, Timers, TransportKind } from "./socket_types.ts";

/** Longest wait between two reconnect attempts, jitter included. */
export const MAX_RETRY_DELAY_MS = 30_000;

/** The decision after a close. */
export type CloseDecision =
  | { action: "stop"; stopReason: StopReason; lastError: string }
  | {
    action: "retry";
    delay: number;
    transport: TransportKind;
    attempt: number;
    lastError: string;
  };

/** Options of {@link ReconnectPolicy}. */
export interface ReconnectPolicyOptions {
  timers: Timers;
  random: () => number;
  /**
   * Attempts in a row that never opened before giving up (stop reason
   * `failures`); `Infinity` (the dashboard's default) never gives up.
   */
  maxFailures: number;
  fallbackAfter: number;
  /** Whether the SSE fallback exists at all. */
  sseAvailable: boolean;
}

/** Failure counters, transport choice and backoff of one client. */
export class ReconnectPolicy {
  /** Transport of the next attempt. */
  transport: TransportKind = "websocket";
  #opts: ReconnectPolicyOptions;
  #backoff: Backoff;
  #failures = 0;
  #wsFailures = 0;

  /** A fresh policy: WebSocket first, no failures. */
  constructor(options: ReconnectPolicyOptions) {
    this.#opts = options;
    this.#backoff = new Backoff({
      now: () => options.timers.now(),
      random: options.random,
    });
  }

  /** Start over (manual reconnect). */
  reset(): void {
    this.#failures = this.#wsFailures = 0;
    this.transport = "websocket";
    this.#backoff.reset();
  }

  /** A connection over `kind` is up. */
  opened(kind: TransportKind): void {
    this.#failures = 0;
    if (kind === "websocket") this.#wsFailures = 0;
    this.transport = kind;
    this.#backoff.opened();
  }

  /** A connection over `kind` closed with `code`; `wasOpen` if it ever opened. */
  closed(
    kind: TransportKind,
    wasOpen: boolean,
    code: number,
    reason: string,
  ): CloseDecision {
    this.#backoff.closed();
    if (!wasOpen) {
      this.#failures++;
      if (kind === "websocket") this.#wsFailures++;
    }
    const why = `${code}${reason ? `: ${reason}` : ""}`;
    if (code === 4401) {
      return stop("signed-out", "signed out — log in again");
    }
    if (code === 4403) return stop("forbidden", "forbidden (role)");
    if (!shouldReconnect(code)) {
      return stop("closed", `closed by the server (${why})`);
    }
    const lastError = `connection lost (${why})`;
    if (this.#failures >= this.#opts.maxFailures) {
      return stop(
        "failures",
        `${lastError}; gave up after ${this.#failures} attempts`,
      );
    }
    // WebSocket never opens (a proxy blocking upgrades?): SSE right away.
    // SSE never opening either: back to the WebSocket.
    let immediate = false;
    if (!wasOpen && kind === "websocket") {
      if (
        this.#wsFailures >= this.#opts.fallbackAfter && this.#opts.sseAvailable
      ) {
        this.transport = "sse";
        immediate = true;
      }
    } else if (!wasOpen) {
      this.transport = "websocket";
      this.#wsFailures = 0;
    }
    // The backoff adds ±20 % jitter to its 30 s cap; the wait never exceeds 30 s.
    const delay = immediate
      ? 0
      : Math.min(this.#backoff.next(), MAX_RETRY_DELAY_MS);
    return {
      action: "retry",
      delay,
      transport: this.transport,
      attempt: this.#backoff.attempt,
      lastError,
    };
  }
}

function stop(stopReason: StopReason, lastError: string): CloseDecision {
  return { action: "stop", stopReason, lastError };
}
