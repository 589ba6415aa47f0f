/**
 * Output chunks produced and not yet covered by a `terminal:ack`, and the
 * send window over them (docs/protocol.md, "Output flow control"): a chunk
 * goes out only while the frames sent and not acknowledged total less than
 * the window. Nothing is ever dropped; the executor keeps the outbox small
 * by pausing its reads from the command while {@link Outbox.full}.
 *
 * @module
 */
import { byteLength } from "../protocol.ts";
import type { OutputChunk } from "./output_batcher.ts";
import { gcNudger } from "../gc_nudge.ts";

/** A chunk of one command as kept by the {@link Outbox}. */
export interface OutboxChunk extends OutputChunk {
  commandId: string;
}

/**
 * Sends one chunk, given the UTF-8 bytes of its `data`; returns the frame's
 * size in bytes, 0 when not sent.
 */
export type SendChunk = (chunk: OutboxChunk, bytes: number) => number;

interface Entry {
  chunk: OutboxChunk;
  /** UTF-8 bytes of `data`. */
  bytes: number;
  /** Frame bytes when sent on the current connection; 0 = not sent yet. */
  sentBytes: number;
}

/** One command's chunks; the first `sent` were sent (sending is in order). */
interface Queue {
  entries: Entry[];
  sent: number;
}

/**
 * Unacknowledged chunks of every command, oldest first.
 *
 * @example
 * ```ts
 * const outbox = new Outbox(4 * 1024 * 1024);
 * outbox.add({ commandId: "c1", seq: 1, stream: "stdout", data: "hi" });
 * outbox.sendUnsent("c1", (chunk) => JSON.stringify(chunk).length);
 * outbox.ack("c1", 1); // 1 chunk freed
 * ```
 */
export class Outbox {
  #window: number;
  #bytes = 0;
  #inFlight = 0;
  // Map keeps insertion order: commands are added in the order they ran.
  #byCommand = new Map<string, Queue>();
  #onFreed: (bytes: number) => void;

  /**
   * `onFreed` is called with the UTF-8 bytes of the chunks each
   * {@link ack} frees (default: a {@link gcNudger}, a concurrent full
   * garbage collection per 16 MiB freed, when `gc` is exposed).
   *
   * @throws {RangeError} When `windowBytes` is not a positive number.
   */
  constructor(
    windowBytes: number,
    onFreed: (bytes: number) => void = gcNudger(),
  ) {
    this.#window = Outbox.#checked(windowBytes);
    this.#onFreed = onFreed;
  }

  static #checked(windowBytes: number): number {
    if (!(windowBytes > 0)) {
      throw new RangeError(`Invalid windowBytes "${windowBytes}"`);
    }
    return windowBytes;
  }

  /** Total UTF-8 bytes of `data` held (sent or not). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Frame bytes sent on the current connection and not acknowledged. */
  get inFlightBytes(): number {
    return this.#inFlight;
  }

  /** The window in bytes. */
  get windowBytes(): number {
    return this.#window;
  }

  /** Change the window (a server advertised one). @throws {RangeError} */
  set windowBytes(value: number) {
    this.#window = Outbox.#checked(value);
  }

  /** Whether the data held reached the window: stop reading more output. */
  get full(): boolean {
    return this.#bytes >= this.#window;
  }

  /**
   * Keep `chunk` until it is acked; it is sent by {@link sendUnsent}.
   * `bytes`: the UTF-8 bytes of its `data`, when the caller counted them.
   */
  add(chunk: OutboxChunk, bytes = byteLength(chunk.data)): void {
    let queue = this.#byCommand.get(chunk.commandId);
    if (!queue) {
      this.#byCommand.set(chunk.commandId, queue = { entries: [], sent: 0 });
    }
    queue.entries.push({ chunk, bytes, sentBytes: 0 });
    this.#bytes += bytes;
  }

  /**
   * Send the unsent chunks of `commandId`, oldest first, while the bytes in
   * flight are under the window. Returns true when none is left unsent
   * (false: the window is full or `send` failed).
   */
  sendUnsent(commandId: string, send: SendChunk): boolean {
    const queue = this.#byCommand.get(commandId);
    if (!queue) return true;
    while (queue.sent < queue.entries.length) {
      if (this.#inFlight >= this.#window) return false;
      const entry = queue.entries[queue.sent];
      const size = send(entry.chunk, entry.bytes);
      if (size <= 0) return false;
      entry.sentBytes = size;
      this.#inFlight += size;
      queue.sent++;
    }
    return true;
  }

  /** The connection changed: nothing is in flight, everything is unsent. */
  resetSent(): void {
    for (const queue of this.#byCommand.values()) {
      for (let i = 0; i < queue.sent; i++) queue.entries[i].sentBytes = 0;
      queue.sent = 0;
    }
    this.#inFlight = 0;
  }

  /** Free the chunks of `commandId` with `seq <= upToSeq`; returns how many. */
  ack(commandId: string, upToSeq: number): number {
    const queue = this.#byCommand.get(commandId);
    if (!queue) return 0;
    const { entries } = queue;
    let freed = 0;
    let freedBytes = 0;
    while (freed < entries.length && entries[freed].chunk.seq <= upToSeq) {
      const entry = entries[freed++];
      this.#bytes -= entry.bytes;
      this.#inFlight -= entry.sentBytes;
      freedBytes += entry.bytes;
    }
    entries.splice(0, freed);
    // Sent chunks are a prefix: what was freed beyond it was never sent.
    queue.sent = Math.max(0, queue.sent - freed);
    if (entries.length === 0) this.#byCommand.delete(commandId);
    if (freedBytes > 0) this.#onFreed(freedBytes);
    return freed;
  }

  /**
   * Forget everything about `commandId` (its completion was acked); returns
   * how many of its chunks were still held, freed without a `terminal:ack`
   * covering them (dropped; 0 when the server acknowledged all output).
   */
  forget(commandId: string): number {
    return this.ack(commandId, Infinity);
  }

  /** Chunks not yet acked, oldest first (all commands, or one). */
  unacked(commandId?: string): OutboxChunk[] {
    const queues = commandId === undefined
      ? [...this.#byCommand.values()]
      : [this.#byCommand.get(commandId) ?? { entries: [], sent: 0 }];
    return queues.flatMap((queue) => queue.entries.map((e) => e.chunk));
  }
}
