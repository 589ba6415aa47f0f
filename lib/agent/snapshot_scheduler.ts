/**
 * When the agent sends `terminal:snapshot` for a running terminal (a session
 * or a `--pty` command): after its screen changed, at most one per
 * `intervalMs`, the first `settleMs` after the change that started it (so a
 * burst of output is usually covered whole), and only once the server has
 * acknowledged the output the snapshot covers (a snapshot never runs ahead
 * of the stored stream, so the server can serve it with the output after
 * it). After a reconnect the latest one is sent again: a restarted server
 * holds none.
 *
 * Sent on the agent's own schedule rather than on the server's request: the
 * snapshot is ready the moment a dashboard opens the agent (no round trip
 * through a socket that may be busy with output), and the server keeps no
 * request state. The cost is bounded: serializing happens only after a
 * change, at most once per interval, and the data is size-capped.
 *
 * @module
 */
import type { ScreenSnapshot } from "./screen.ts";

/** Default of {@link SnapshotSchedulerOptions.intervalMs}. */
export const SNAPSHOT_INTERVAL_MS = 1000;
/** Default of {@link SnapshotSchedulerOptions.settleMs}. */
export const SNAPSHOT_SETTLE_MS = 200;

/** Timer functions (fake timers in tests). */
export interface SchedulerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

/** Options of {@link SnapshotScheduler}. */
export interface SnapshotSchedulerOptions {
  /** The screen now (null: nothing to send). */
  take: () => Promise<ScreenSnapshot | null>;
  /** Send it; false when not connected (it is sent after the reconnect). */
  send: (snapshot: ScreenSnapshot) => boolean;
  /** Shortest time between two snapshots (default 1000 ms). */
  intervalMs?: number;
  /** Wait after the first change before taking one (default 200 ms). */
  settleMs?: number;
  timers?: SchedulerTimers;
}

const realTimers: SchedulerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
  now: () => Date.now(),
};

/** Decides when one terminal's snapshots go out. */
export class SnapshotScheduler {
  #o: Required<Omit<SnapshotSchedulerOptions, "timers">>;
  #timers: SchedulerTimers;
  #timer: unknown = null;
  #dirty = false;
  #taking = false;
  #lastTakenAt = Number.NEGATIVE_INFINITY;
  #acked = 0;
  /** Taken, waiting for its output to be acknowledged or for a connection. */
  #held: ScreenSnapshot | null = null;
  /** Seq of the last snapshot sent on the current connection. */
  #sentSeq = 0;
  #disposed = false;

  /** @throws {RangeError} For a negative interval or settle time. */
  constructor(options: SnapshotSchedulerOptions) {
    const intervalMs = options.intervalMs ?? SNAPSHOT_INTERVAL_MS;
    const settleMs = options.settleMs ?? SNAPSHOT_SETTLE_MS;
    if (!(intervalMs >= 0) || !(settleMs >= 0)) {
      throw new RangeError(
        `Invalid snapshot timing "${intervalMs}"/"${settleMs}"`,
      );
    }
    this.#o = { ...options, intervalMs, settleMs };
    this.#timers = options.timers ?? realTimers;
  }

  /** The screen changed (output was written to it). */
  changed(): void {
    if (this.#disposed) return;
    this.#dirty = true;
    this.#schedule();
  }

  /** The server acknowledged output up to `seq`. */
  acked(seq: number): void {
    if (seq > this.#acked) this.#acked = seq;
    this.#trySend();
  }

  /** A new connection: the server may hold no snapshot; send the latest again. */
  reconnected(): void {
    this.#sentSeq = 0;
    if (this.#held === null && !this.#dirty) this.#dirty = true;
    this.#schedule();
    this.#trySend();
  }

  /** Stop for good (the command ended). */
  dispose(): void {
    this.#disposed = true;
    this.#held = null;
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#timer !== null || this.#taking || !this.#dirty) return;
    const now = this.#timers.now();
    const delay = Math.max(
      this.#o.settleMs,
      this.#lastTakenAt + this.#o.intervalMs - now,
    );
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = null;
      void this.#take();
    }, delay);
  }

  async #take(): Promise<void> {
    if (this.#disposed) return;
    this.#dirty = false;
    this.#taking = true;
    this.#lastTakenAt = this.#timers.now();
    let snapshot: ScreenSnapshot | null = null;
    try {
      snapshot = await this.#o.take();
    } finally {
      this.#taking = false;
    }
    if (this.#disposed) return;
    if (snapshot && snapshot.seq > (this.#held?.seq ?? 0)) {
      this.#held = snapshot;
    }
    this.#trySend();
    this.#schedule();
  }

  #trySend(): void {
    const held = this.#held;
    if (this.#disposed || !held) return;
    if (held.seq > this.#acked || held.seq <= this.#sentSeq) return;
    if (!this.#o.send(held)) return;
    this.#sentSeq = held.seq;
  }
}
