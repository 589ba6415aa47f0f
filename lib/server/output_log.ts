/**
 * The output log: what commands printed, stored in Deno KV by seq.
 *
 * Two layers:
 * - {@link OutputStore}: the KV layout, stateless. Write one chunk, read a
 *   seq range, find where an earlier page starts, drop the oldest chunks,
 *   delete all output of a command, read its bookkeeping.
 * - {@link OutputLog}: the output of running commands, on an OutputStore.
 *   It keeps each running command's bookkeeping ({@link OutputState}) in
 *   memory, appends chunks, applies the per-command cap (drops the oldest
 *   chunks) and serves reads and earlier pages.
 *
 * Keys (in the same KV as storage.ts):
 * - `["out", commandId, seq, part]` → {@link StoredChunk} (values over KV's
 *   64 KiB limit are split into parts; part 0 says how many)
 * - `["out_meta", commandId]` → {@link OutputMeta}, written with every chunk
 * - `["out_resize", commandId, afterSeq]` (written by storage.ts) is deleted
 *   with the output of a command
 * - `["out_line", commandId, firstLine, seq]`: the line index
 *   (line_index.ts), written with each chunk by {@link OutputLog.append},
 *   deleted with the output
 *
 * @module
 */
import { byteLength, type Stream } from "../protocol.ts";
import { LINE_INDEX, LineCounter, lineEntry } from "./line_index.ts";
import { deleteSearchEntries } from "./search_index.ts";

/** One stored output chunk (or part of one). */
export interface StoredChunk {
  stream: Stream;
  data: string;
  /**
   * When the server received the chunk (ms since the epoch), on part 0.
   * Absent on chunks stored by older versions: readers take the previous
   * chunk's time, or the command's start.
   */
  at?: number;
  /** On part 0 of a chunk split into several parts: how many. */
  parts?: number;
}

/** A whole chunk as read back: its seq, stream, data and receive time. */
export type ReadChunk = { seq: number } & StoredChunk;

/** Output bookkeeping of one command, kept exact with every chunk. */
export interface OutputMeta {
  /** Highest seq received. */
  lastSeq: number;
  /** UTF-8 bytes received in all (`CommandInfo.outputBytes`). */
  outputBytes: number;
  /** UTF-8 bytes still stored (at most the cap, plus the newest chunk). */
  storedBytes: number;
}

/** The live bookkeeping of a running command (same fields as stored). */
export type OutputState = OutputMeta;

/** One page of earlier output (see {@link OutputLog.earlierPage}). */
export interface EarlierPage {
  fromSeq: number;
  toSeq: number;
  data: string;
  /** Whether older output is stored. */
  more: boolean;
}

/** Largest string stored in one KV value (KV allows 64 KiB per value). */
const PART_CHARS = 16 * 1024;
/** Mutations per atomic operation when deleting many keys. */
const DELETE_BATCH = 500;

/** The KV layout of output: stateless reads and writes. */
export class OutputStore {
  readonly kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.kv = kv;
  }

  /**
   * Store one output chunk in one atomic operation (split into parts of at
   * most 16 Ki characters); with `meta`, write the command's output
   * bookkeeping in the same operation, and the `extra` entries (the line
   * index). Used by {@link OutputLog} and for imports.
   */
  async write(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    meta?: OutputMeta,
    extra: readonly [Deno.KvKey, unknown][] = [],
  ): Promise<void> {
    const op = this.kv.atomic();
    if (meta) op.set(["out_meta", commandId], meta);
    for (const [key, value] of extra) op.set(key, value);
    const at = chunk.at === undefined ? {} : { at: chunk.at };
    if (chunk.data.length <= PART_CHARS) {
      op.set(["out", commandId, seq, 0], {
        stream: chunk.stream,
        data: chunk.data,
        ...at,
      });
    } else {
      const parts: string[] = [];
      let start = 0;
      while (start < chunk.data.length) {
        let end = Math.min(start + PART_CHARS, chunk.data.length);
        // Keep surrogate pairs together.
        const code = chunk.data.charCodeAt(end - 1);
        if (code >= 0xd800 && code <= 0xdbff && end < chunk.data.length) end++;
        parts.push(chunk.data.slice(start, end));
        start = end;
      }
      parts.forEach((data, part) => {
        const value: StoredChunk = part === 0
          ? { stream: chunk.stream, data, parts: parts.length, ...at }
          : { stream: chunk.stream, data };
        op.set(["out", commandId, seq, part], value);
      });
    }
    await op.commit();
  }

  /** A command's output bookkeeping, if written by this layout. */
  async meta(commandId: string): Promise<OutputMeta | null> {
    return (await this.kv.get<OutputMeta>(["out_meta", commandId])).value;
  }

  /**
   * Delete the oldest stored output chunks of a command with
   * `seq < beforeSeq`, whole chunks only, until at least `bytes` UTF-8 bytes
   * are freed. `meta` is the bookkeeping before the deletion; each atomic
   * deletion writes it with `storedBytes` lowered by what it removed.
   * Returns the bytes freed.
   */
  async dropOldest(
    commandId: string,
    bytes: number,
    beforeSeq: number,
    meta: OutputMeta,
  ): Promise<number> {
    let freed = 0;
    let pending: Deno.KvKey[] = [];
    let pendingBytes = 0;
    let seq = -1;
    const commit = async () => {
      if (!pending.length) return;
      const op = this.kv.atomic();
      for (const key of pending) op.delete(key);
      freed += pendingBytes;
      op.set(["out_meta", commandId], {
        ...meta,
        storedBytes: meta.storedBytes - freed,
      });
      await op.commit();
      pending = [];
      pendingBytes = 0;
    };
    // Read ahead about what is needed (usually one chunk), not a full batch.
    const iter = this.kv.list<StoredChunk>({
      start: ["out", commandId],
      end: ["out", commandId, beforeSeq],
    }, { batchSize: Math.min(500, 2 + Math.ceil(bytes / 8192)) });
    for await (const entry of iter) {
      const entrySeq = Number(entry.key[2]);
      if (entrySeq !== seq) {
        // A chunk boundary: stop once enough is freed.
        if (freed + pendingBytes >= bytes) break;
        seq = entrySeq;
      }
      pending.push(entry.key);
      pendingBytes += byteLength(entry.value.data);
      if (pending.length >= DELETE_BATCH) await commit();
    }
    await commit();
    return freed;
  }

  /**
   * Delete every output chunk, the bookkeeping, the recorded resizes, the
   * line index and the search index entries of a command.
   */
  async delete(commandId: string): Promise<void> {
    let op = this.kv.atomic();
    let count = 0;
    for (
      const prefix of [
        ["out", commandId],
        ["out_resize", commandId],
        [LINE_INDEX, commandId],
      ]
    ) {
      for await (const entry of this.kv.list({ prefix })) {
        op.delete(entry.key);
        if (++count % DELETE_BATCH === 0) {
          await op.commit();
          op = this.kv.atomic();
        }
      }
    }
    op.delete(["out_meta", commandId]);
    await op.commit();
    await deleteSearchEntries(this.kv, commandId);
  }

  /**
   * Where a page of at most about `maxBytes` UTF-8 bytes of stored output
   * before `beforeSeq` starts: the lowest seq of the newest whole chunks
   * below `beforeSeq` that together stay within `maxBytes` (at least one
   * chunk). Null when nothing is stored below `beforeSeq`.
   */
  async pageStart(
    commandId: string,
    beforeSeq: number,
    maxBytes: number,
  ): Promise<number | null> {
    let start: number | null = null;
    let bytes = 0;
    const iter = this.kv.list<StoredChunk>({
      start: ["out", commandId],
      end: ["out", commandId, beforeSeq],
    }, { reverse: true, batchSize: 100 });
    for await (const entry of iter) {
      const seq = Number(entry.key[2]);
      const size = byteLength(entry.value.data);
      if (start !== null && seq !== start && bytes + size > maxBytes) break;
      bytes += size;
      start = seq;
    }
    return start;
  }

  /** Highest stored seq of a command (0 when none). */
  async lastSeq(commandId: string): Promise<number> {
    for await (
      const entry of this.kv.list({ prefix: ["out", commandId] }, {
        reverse: true,
        limit: 1,
      })
    ) return Number(entry.key[2]);
    return 0;
  }

  /**
   * Output chunks of a command with `afterSeq < seq <= upTo`, in order, parts
   * joined. A chunk whose parts were deleted while it was read (the
   * per-command cap) is left out, as if it had been deleted before.
   * `batchSize` KV entries (parts of at most 16 Ki characters) are read
   * ahead at a time.
   */
  async *read(
    commandId: string,
    afterSeq: number,
    upTo: number = Number.MAX_SAFE_INTEGER - 1,
    batchSize = 500,
  ): AsyncGenerator<ReadChunk> {
    let current: ReadChunk | null = null;
    let expectedParts = 1;
    let readParts = 0;
    const iter = this.kv.list<StoredChunk>({
      start: ["out", commandId, afterSeq + 1],
      end: ["out", commandId, Math.min(upTo, Number.MAX_SAFE_INTEGER - 1) + 1],
    }, { batchSize });
    for await (const entry of iter) {
      const seq = Number(entry.key[2]);
      if (current && current.seq === seq) {
        current.data += entry.value.data;
        readParts++;
        continue;
      }
      if (current && readParts === expectedParts) yield current;
      current = null;
      // A chunk missing its first part was partly deleted: skip it.
      if (Number(entry.key[3]) !== 0) continue;
      current = { seq, stream: entry.value.stream, data: entry.value.data };
      if (entry.value.at !== undefined) current.at = entry.value.at;
      expectedParts = entry.value.parts ?? 1;
      readParts = 1;
    }
    if (current && readParts === expectedParts) yield current;
  }
}

/** Options of {@link OutputLog}. */
export interface OutputLogOptions {
  /**
   * Output bytes stored per command: past it the oldest chunks of that
   * command are deleted down to 7/8 of it (never the newest chunk).
   * Default: no cap.
   */
  maxCommandOutputBytes?: number;
  /**
   * Wait this long before each commit of output (tests only: the stand-in
   * for a slow store). Default 0.
   */
  commitDelayMs?: number;
}

/**
 * The output of running commands: appends with exact bookkeeping and the
 * per-command cap, reads and earlier pages.
 *
 * A command is tracked from {@link start} (new) or {@link restore} (after a
 * restart) until {@link finish}; {@link append} takes only tracked commands.
 * Reads work for any command.
 */
export class OutputLog {
  readonly store: OutputStore;
  #options: OutputLogOptions;
  #tracked = new Map<string, OutputState>();
  /** Where each command's next chunk starts, for the line index. */
  #lines: LineCounter;

  constructor(store: OutputStore, options: OutputLogOptions = {}) {
    this.store = store;
    this.#options = options;
    this.#lines = new LineCounter(store.kv);
  }

  /** Track a new command, with no output yet. */
  start(commandId: string): OutputState {
    const state = { lastSeq: 0, outputBytes: 0, storedBytes: 0 };
    this.#tracked.set(commandId, state);
    this.#lines.begin(commandId);
    return state;
  }

  /**
   * Track a command that was running before a restart: its bookkeeping as
   * stored, or, for data of an older version that has none, recounted from
   * what is stored.
   */
  async restore(commandId: string): Promise<OutputState> {
    let meta = await this.store.meta(commandId);
    if (!meta) {
      meta = { lastSeq: 0, outputBytes: 0, storedBytes: 0 };
      for await (const chunk of this.store.read(commandId, 0)) {
        meta.lastSeq = chunk.seq;
        meta.storedBytes += byteLength(chunk.data);
      }
      meta.outputBytes = meta.storedBytes;
    }
    this.#tracked.set(commandId, meta);
    return meta;
  }

  /** The bookkeeping of a tracked command (live: it changes with appends). */
  state(commandId: string): OutputState | undefined {
    return this.#tracked.get(commandId);
  }

  /**
   * Announce that `seq` was skipped up to `lastSeq` (the agent dropped
   * output): the tracked command's `lastSeq` moves there.
   */
  skipTo(commandId: string, lastSeq: number): void {
    const state = this.#tracked.get(commandId);
    if (state && lastSeq > state.lastSeq) state.lastSeq = lastSeq;
  }

  /** Stop tracking a command (it finished, or is forgotten). */
  finish(commandId: string): void {
    this.#tracked.delete(commandId);
    this.#lines.forget(commandId);
  }

  /**
   * Append chunk `seq` of tracked command `commandId`, with its UTF-8 byte
   * length `bytes`. The caller appends seqs in increasing order (not
   * necessarily consecutive). The bookkeeping moves at once; the returned
   * promise resolves when the chunk is stored with it. When the stored
   * bytes pass the cap, the oldest whole chunks (never this one) are deleted
   * down to 7/8 of the cap, so at most the cap plus one chunk stays and a
   * flood pays for one trim per cap/8 bytes, not one per chunk.
   *
   * @throws {Error} for a command that is not tracked.
   */
  async append(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    bytes: number,
  ): Promise<void> {
    const state = this.#tracked.get(commandId);
    if (!state) throw new Error(`Output of "${commandId}" is not tracked`);
    const meta = {
      lastSeq: seq,
      outputBytes: state.outputBytes + bytes,
      storedBytes: state.storedBytes + bytes,
    };
    const delay = this.#options.commitDelayMs ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const mark = await this.#lines.mark(commandId, seq, chunk.data);
    await this.store.write(commandId, seq, chunk, meta, [
      lineEntry(commandId, mark),
    ]);
    this.#lines.commit(commandId, mark);
    state.lastSeq = meta.lastSeq;
    state.outputBytes = meta.outputBytes;
    state.storedBytes = meta.storedBytes;
    const cap = this.#options.maxCommandOutputBytes ??
      Number.POSITIVE_INFINITY;
    if (state.storedBytes > cap) {
      state.storedBytes -= await this.store.dropOldest(
        commandId,
        state.storedBytes - (cap - Math.floor(cap / 8)),
        seq,
        meta,
      );
    }
  }

  /** Chunks of `commandId` with `afterSeq < seq <= upTo`, in order. */
  read(
    commandId: string,
    afterSeq: number,
    upTo: number = Number.MAX_SAFE_INTEGER - 1,
    batchSize = 500,
  ): AsyncGenerator<ReadChunk> {
    return this.store.read(commandId, afterSeq, upTo, batchSize);
  }

  /**
   * Highest seq of a command: the tracked bookkeeping's, else the highest
   * stored.
   */
  async lastSeq(commandId: string): Promise<number> {
    return this.#tracked.get(commandId)?.lastSeq ??
      await this.store.lastSeq(commandId);
  }

  /**
   * One page of stored output before `beforeSeq`, at most about `maxBytes`
   * (whole chunks, at least one): the chunks `fromSeq..toSeq` joined, and
   * whether older output is stored. Null when nothing is stored before
   * `beforeSeq`.
   */
  async earlierPage(
    commandId: string,
    beforeSeq: number,
    maxBytes: number,
  ): Promise<EarlierPage | null> {
    const fromSeq = await this.store.pageStart(commandId, beforeSeq, maxBytes);
    if (fromSeq === null) return null;
    let data = "";
    let first = 0;
    let last = 0;
    for await (
      const chunk of this.read(commandId, fromSeq - 1, beforeSeq - 1)
    ) {
      if (first === 0) first = chunk.seq;
      last = chunk.seq;
      data += chunk.data;
    }
    if (first === 0) return null;
    const more = await this.store.pageStart(commandId, first, 1) !== null;
    return { fromSeq: first, toSeq: last, data, more };
  }

  /** Delete all output of a command and stop tracking it. */
  async delete(commandId: string): Promise<void> {
    this.#tracked.delete(commandId);
    this.#lines.forget(commandId);
    await this.store.delete(commandId);
  }
}
