/**
 * Exactly-once `command:request`s: every request stays here, keyed by its
 * envelope id, until a `command:status` or `error` with that `replyTo`
 * answers it. Unanswered ones are resent unchanged after each reconnect; the
 * server answers a repeat with the original command. After the server's
 * dedup window (10 minutes) a resend could queue twice, so they are dropped.
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import type { PendingRequest } from "./socket_types.ts";

/** How long an unanswered request is kept (the server's dedup window). */
export const PENDING_TTL_MS = 10 * 60 * 1000;

/** Unanswered requests by id, as a signal for the UI. */
export class PendingRequests {
  /** Current unanswered requests (id → request); replaced on every change. */
  readonly requests: Signal<ReadonlyMap<string, PendingRequest>> = signal(
    new Map(),
  );
  #ttlMs: number;
  #now: () => number;

  /** Create an empty map; `now` is the clock used for the expiry. */
  constructor(now: () => number, ttlMs = PENDING_TTL_MS) {
    this.#now = now;
    this.#ttlMs = ttlMs;
  }

  /** Remember `message` (an envelope with an `id`) until answered. */
  add(message: PendingRequest["message"]): void {
    const next = new Map(this.requests.value);
    next.set(message.id, { id: message.id, message, sentAt: this.#now() });
    this.requests.value = next;
  }

  /** Mark `replyTo` answered; returns whether it was pending. */
  answer(replyTo: string): boolean {
    if (!this.requests.value.has(replyTo)) return false;
    const next = new Map(this.requests.value);
    next.delete(replyTo);
    this.requests.value = next;
    return true;
  }

  /** Drop requests older than the TTL; returns the ones still pending. */
  live(): PendingRequest[] {
    const cutoff = this.#now() - this.#ttlMs;
    const all = [...this.requests.value.values()];
    const kept = all.filter((r) => r.sentAt > cutoff);
    if (kept.length !== all.length) {
      this.requests.value = new Map(kept.map((r) => [r.id, r]));
    }
    return kept;
  }

  /** Whether `id` is still unanswered. */
  has(id: string): boolean {
    return this.requests.value.has(id);
  }
}
