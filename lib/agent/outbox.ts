/**
 * Output chunks sent (or waiting to be sent) to the server and not yet
 * covered by a `terminal:ack`. Bounded: over the limit the oldest chunks are
 * dropped, so a disconnected agent never blocks or grows without bound.
 *
 * @module
 */
import { byteLength } from "../protocol.ts";
import type { OutputChunk } from "./output_batcher.ts";

/** A chunk of one command as kept by the {@link Outbox}. */
export interface OutboxChunk extends OutputChunk {
  commandId: string;
}

/** Seq range `[fromSeq, toSeq]` of one command whose chunks were dropped. */
export interface OutboxGap {
  commandId: string;
  fromSeq: number;
  toSeq: number;
}

interface Entry {
  chunk: OutboxChunk;
  bytes: number;
}

/**
 * Unacknowledged chunks of every command, oldest first.
 *
 * @example
 * ```ts
 * const outbox = new Outbox(1024);
 * outbox.add({ commandId: "c1", seq: 1, stream: "stdout", data: "hi" });
 * outbox.ack("c1", 1); // 1 chunk freed
 * ```
 */
export class Outbox {
  #maxBytes: number;
  #bytes = 0;
  // Map keeps insertion order: commands are added in the order they ran.
  #byCommand = new Map<string, Entry[]>();
  #gaps = new Map<string, OutboxGap>();

  /** @throws {RangeError} When `maxBytes` is not a positive number. */
  constructor(maxBytes: number) {
    if (!(maxBytes > 0)) throw new RangeError(`Invalid maxBytes "${maxBytes}"`);
    this.#maxBytes = maxBytes;
  }

  /** Total UTF-8 bytes of `data` held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Keep `chunk` until it is acked. Returns the ranges dropped to stay under
   * the bound (empty in the usual case); the newest chunk is never dropped.
   */
  add(chunk: OutboxChunk): OutboxGap[] {
    const bytes = byteLength(chunk.data);
    let entries = this.#byCommand.get(chunk.commandId);
    if (!entries) this.#byCommand.set(chunk.commandId, entries = []);
    entries.push({ chunk, bytes });
    this.#bytes += bytes;
    const dropped: OutboxGap[] = [];
    while (this.#bytes > this.#maxBytes) {
      const [commandId, oldest] = this.#byCommand.entries().next().value!;
      if (oldest.length === 1 && oldest[0].chunk === chunk) break;
      const { chunk: gone, bytes: size } = oldest.shift()!;
      this.#bytes -= size;
      if (oldest.length === 0) this.#byCommand.delete(commandId);
      this.#recordGap(dropped, gone);
    }
    return dropped;
  }

  /** Free the chunks of `commandId` with `seq <= upToSeq`; returns how many. */
  ack(commandId: string, upToSeq: number): number {
    const entries = this.#byCommand.get(commandId);
    if (!entries) return 0;
    let freed = 0;
    while (entries.length > 0 && entries[0].chunk.seq <= upToSeq) {
      this.#bytes -= entries.shift()!.bytes;
      freed++;
    }
    if (entries.length === 0) this.#byCommand.delete(commandId);
    return freed;
  }

  /** Forget everything about `commandId` (its completion was acked). */
  forget(commandId: string): void {
    this.ack(commandId, Infinity);
    this.#gaps.delete(commandId);
  }

  /** Chunks not yet acked, oldest first (all commands, or one). */
  unacked(commandId?: string): OutboxChunk[] {
    const lists = commandId === undefined
      ? [...this.#byCommand.values()]
      : [this.#byCommand.get(commandId) ?? []];
    return lists.flatMap((entries) => entries.map((e) => e.chunk));
  }

  /** Overall range of dropped chunks of `commandId`, if any were dropped. */
  gap(commandId: string): OutboxGap | undefined {
    return this.#gaps.get(commandId);
  }

  #recordGap(dropped: OutboxGap[], gone: OutboxChunk): void {
    const { commandId, seq } = gone;
    const last = dropped.at(-1);
    if (last?.commandId === commandId && last.toSeq === seq - 1) {
      last.toSeq = seq;
    } else {
      dropped.push({ commandId, fromSeq: seq, toSeq: seq });
    }
    const total = this.#gaps.get(commandId);
    this.#gaps.set(commandId, {
      commandId,
      fromSeq: Math.min(total?.fromSeq ?? seq, seq),
      toSeq: Math.max(total?.toSeq ?? seq, seq),
    });
  }
}
