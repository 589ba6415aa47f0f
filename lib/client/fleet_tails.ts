/**
 * The last lines of each agent's latest output, for the fleet overview:
 * fed by `terminal:output` (live and replayed) and `command:status`, seeded
 * with the server-rendered tails, and published at most every 250 ms as
 * one signal (a burst of output repaints the grid a few times a second,
 * not once per chunk).
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import type { CommandInfo, Stream } from "../protocol.ts";
import { type TailLine, TextTail } from "./text_tail.ts";

/** Lines a card shows. */
export const TAIL_LINES = 4;
/** Least time between two repaints of the tails. */
export const PUBLISH_MS = 250;

/** A tail as the server renders it: the command, its last seq, its lines. */
export interface SeedTail {
  commandId: string;
  toSeq: number;
  lines: TailLine[];
}

interface Entry {
  commandId: string;
  /** Highest seq taken in. */
  seq: number;
  tail: TextTail;
  /** Server-rendered lines standing for the output up to `seq`. */
  seeded: TailLine[];
}

/** One `terminal:output` as the tails need it. */
export interface TailChunk {
  agentId: string;
  commandId: string;
  seq: number;
  stream: Stream;
  data: string;
}

/** Per-agent tails (see the module doc). */
export class FleetTails {
  /** The tails by agent id; replaced (never mutated) on each publish. */
  readonly lines: Signal<ReadonlyMap<string, readonly TailLine[]>> = signal(
    new Map(),
  );
  #entries = new Map<string, Entry>();
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** Start from the server-rendered tails (agents already fed are kept). */
  seed(tails: Readonly<Record<string, SeedTail>>): void {
    for (const [agentId, seed] of Object.entries(tails)) {
      if (this.#entries.has(agentId)) continue;
      this.#entries.set(agentId, {
        commandId: seed.commandId,
        seq: seed.toSeq,
        tail: new TextTail(TAIL_LINES),
        seeded: seed.lines.slice(-TAIL_LINES),
      });
    }
    this.#publishNow();
  }

  /**
   * Take one chunk: a chunk of another command than the agent's tail shows,
   * or of the same command at seq 1 (a replay from the start), starts a new
   * tail; chunks already taken (seq at or below the last) are dropped.
   */
  output(chunk: TailChunk): void {
    let entry = this.#entries.get(chunk.agentId);
    if (!entry || entry.commandId !== chunk.commandId || chunk.seq === 1) {
      // Another command's output (from its start, or mid-stream when this
      // page joined late), or a replay from the start: a new tail.
      entry = {
        commandId: chunk.commandId,
        seq: 0,
        tail: new TextTail(TAIL_LINES),
        seeded: [],
      };
      this.#entries.set(chunk.agentId, entry);
    }
    if (chunk.seq <= entry.seq) return;
    entry.seq = chunk.seq;
    entry.tail.push(chunk.data, chunk.stream === "stderr");
    this.#schedule();
  }

  /** A command started: its agent's tail starts empty (prompts write into their session's). */
  started(command: CommandInfo): void {
    if (command.kind === "prompt") return;
    const entry = this.#entries.get(command.agentId);
    if (entry?.commandId === command.id) return;
    this.#entries.set(command.agentId, {
      commandId: command.id,
      seq: 0,
      tail: new TextTail(TAIL_LINES),
      seeded: [],
    });
    this.#schedule();
  }

  /** Forget agent `agentId` (it was removed). */
  remove(agentId: string): void {
    if (this.#entries.delete(agentId)) this.#schedule();
  }

  /** Stop the pending publish (the page goes away). */
  dispose(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#publishNow();
    }, PUBLISH_MS);
  }

  #publishNow(): void {
    const next = new Map<string, readonly TailLine[]>();
    for (const [agentId, entry] of this.#entries) {
      const live = entry.tail.lines();
      next.set(
        agentId,
        [...entry.seeded, ...live].slice(-TAIL_LINES),
      );
    }
    this.lines.value = next;
  }
}
