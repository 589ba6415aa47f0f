/**
 * The output log: what commands printed, stored by seq.
 *
 * Two layers:
 * - {@link OutputBackend}: where output is stored, stateless. Write chunks,
 *   read a seq range, find where an earlier page starts, drop the oldest
 *   chunks, delete all output of a command, read its bookkeeping. Three
 *   implement it: {@link OutputStore} here (the Deno KV layout below),
 *   `FileOutputStore` (file_output.ts: append-only files with bookkeeping
 *   in KV, the default for a KV file on disk) and `RedisOutputStore`
 *   (redis_storage.ts, cluster mode).
 * - {@link OutputLog}: the output of running commands, on a backend.
 *   It keeps each running command's bookkeeping ({@link OutputState}) in
 *   memory, appends chunks, applies the per-command cap (drops the oldest
 *   chunks) and serves reads and earlier pages.
 *
 * Keys of the KV layout (in the same KV as storage.ts; the file store keeps
 * `out_meta` and `out_line` too):
 * - `["out", commandId, seq, part]` → {@link StoredChunk} (values over KV's
 *   64 KiB limit are split into parts; part 0 says how many)
 * - `["out_meta", commandId]` → {@link OutputMeta}, written with every chunk
 * - `["out_resize", commandId, afterSeq]` (written by storage.ts) is deleted
 *   with the output of a command
 * - `["out_line", commandId, firstLine, seq]`: the line index
 *   (line_index.ts), written by {@link OutputLog} in the commit that
 *   completes each chunk, deleted with the output
 *
 * @module
 */
import { byteLength, type Stream } from "../protocol.ts";
import {
  countNewlines,
  lastMark,
  LINE_INDEX,
  lineEntry,
  type LineMark,
} from "./line_index.ts";
import type { KvLike } from "./redis_kv.ts";
import { deleteSearchEntries } from "./search_index.ts";
import { gcNudger } from "../gc_nudge.ts";

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

/**
 * `data` in parts of at most 16 Ki characters (one more to keep a
 * surrogate pair together), each one KV value.
 */
export function splitParts(data: string): string[] {
  if (data.length <= PART_CHARS) return [data];
  const parts: string[] = [];
  let start = 0;
  while (start < data.length) {
    let end = Math.min(start + PART_CHARS, data.length);
    // Keep surrogate pairs together.
    const code = data.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff && end < data.length) end++;
    parts.push(data.slice(start, end));
    start = end;
  }
  return parts;
}

/**
 * One commit of {@link OutputLog}: chunk parts (part `n` of chunk `seq`, in
 * append order), line index entries and the bookkeeping of the commands
 * whose chunks it completes, stored together.
 */
export interface OutputBatch {
  parts: { commandId: string; seq: number; part: number; value: StoredChunk }[];
  lines: [Deno.KvKey, unknown][];
  metas: [string, OutputMeta][];
}

/**
 * Where output is stored, by seq: what both the Deno KV layout
 * ({@link OutputStore}) and the Redis one (redis_storage.ts) do.
 */
export interface OutputBackend {
  /**
   * Where the line index (line_index.ts) and the search index
   * (search_index.ts) are kept: the Deno KV of the output, or with Redis
   * the shared {@link RedisKv} (redis_kv.ts).
   */
  readonly kv: KvLike;
  /**
   * Most bytes of output one {@link commit} should carry, when the store
   * takes more (or less) than {@link BATCH_BYTES}, Deno KV's.
   */
  readonly batchBytes?: number;
  /** Store one {@link OutputBatch} (the chunks and bookkeeping at once). */
  commit(batch: OutputBatch): Promise<void>;
  /** Store one chunk, with the command's bookkeeping when given. */
  write(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    meta?: OutputMeta,
  ): Promise<void>;
  /** A command's output bookkeeping, if written. */
  meta(commandId: string): Promise<OutputMeta | null>;
  /**
   * Delete the oldest whole chunks with `seq < beforeSeq` until at least
   * `bytes` are freed, writing `meta` with `storedBytes` lowered; returns
   * the bytes freed.
   */
  dropOldest(
    commandId: string,
    bytes: number,
    beforeSeq: number,
    meta: OutputMeta,
  ): Promise<number>;
  /** Delete all output, bookkeeping and resizes of a command. */
  delete(commandId: string): Promise<void>;
  /** Where a page of about `maxBytes` before `beforeSeq` starts, or null. */
  pageStart(
    commandId: string,
    beforeSeq: number,
    maxBytes: number,
  ): Promise<number | null>;
  /** Highest stored seq of a command (0 when none). */
  lastSeq(commandId: string): Promise<number>;
  /** Chunks with `afterSeq < seq <= upTo`, in seq order. */
  read(
    commandId: string,
    afterSeq: number,
    upTo?: number,
    batchSize?: number,
  ): AsyncGenerator<ReadChunk>;
}

/** The KV layout of output: stateless reads and writes. */
export class OutputStore implements OutputBackend {
  readonly kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.kv = kv;
  }

  /**
   * Store one output chunk in one atomic operation (split into parts of at
   * most 16 Ki characters); with `meta`, write the command's output
   * bookkeeping in the same operation, and the `extra` entries (such as
   * the line index). Used for imports and tests.
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
      const parts = splitParts(chunk.data);
      parts.forEach((data, part) => {
        const value: StoredChunk = part === 0
          ? { stream: chunk.stream, data, parts: parts.length, ...at }
          : { stream: chunk.stream, data };
        op.set(["out", commandId, seq, part], value);
      });
    }
    await op.commit();
  }

  /** Store one {@link OutputBatch} in one atomic KV operation. */
  async commit(batch: OutputBatch): Promise<void> {
    const op = this.kv.atomic();
    for (const { commandId, seq, part, value } of batch.parts) {
      op.set(["out", commandId, seq, part], value);
    }
    for (const [key, value] of batch.lines) op.set(key, value);
    for (const [commandId, meta] of batch.metas) {
      op.set(["out_meta", commandId], meta);
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
   * Delete every output chunk, the bookkeeping and the recorded resizes of
   * a command.
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
   * command are deleted down to 7/8 of it (never the newest stored chunk).
   * Default: no cap.
   */
  maxCommandOutputBytes?: number;
  /**
   * Most serialized bytes (estimated) of output one atomic KV commit
   * carries; KV allows 800 KiB. Default: the store's
   * {@link OutputBackend.batchBytes}, else {@link BATCH_BYTES}.
   */
  batchBytes?: number;
  /**
   * Wait this long before each commit of output (tests only: the stand-in
   * for a slow store). Default 0.
   */
  commitDelayMs?: number;
  /** Called when a commit of output fails (the chunks are dropped). */
  onError?: (error: unknown) => void;
  /**
   * Called after each commit with the bytes of the chunks it stored (which
   * this log lets go of then). Default: a {@link gcNudger} (a concurrent
   * full garbage collection per 16 MiB stored, when `gc` is exposed).
   */
  onStored?: (bytes: number) => void;
  /**
   * Whether a failed commit is a passing outage of the store (Redis
   * unreachable): then, instead of failing its chunks, the same batch is
   * committed again after {@link retryDelayMs} until it is stored or
   * {@link OutputLog.close} is called. The store must take a batch twice
   * (Redis: parts stored already are left out). Meanwhile nothing is
   * acknowledged, so the agents' windows bound what waits. Default: never.
   */
  retryable?: (error: unknown) => boolean;
  /** Wait before retry `attempt` (1-based) of a {@link retryable} commit. */
  retryDelayMs?: (attempt: number) => number;
  /** Called before each retry of a {@link retryable} commit. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * Default most bytes of output per atomic commit (see `batchBytes`). Each
 * commit of a file-backed KV pays a sync to disk, so under a flood larger
 * commits store more per second; 704 KiB leaves room under KV's 800 KiB for
 * what the estimate leaves out (keys longer than {@link ENTRY_OVERHEAD},
 * line index entries: under 30 KiB for a full commit with UUID ids).
 */
export const BATCH_BYTES = 704 * 1024;
/** Most mutations per atomic commit (KV allows 1000). */
const BATCH_MUTATIONS = 900;
/** Estimated serialized bytes of a key and value beyond the text. */
const ENTRY_OVERHEAD = 96;

/** A tracked command: live and stored bookkeeping, chunks not stored yet. */
interface Track {
  commandId: string;
  /** Moves with every append (includes chunks not stored yet). */
  live: OutputState;
  /** As stored in KV (`["out_meta"]`). */
  stored: OutputMeta;
  /** Appended and not stored yet, in seq order. */
  pending: Pending[];
  /** 0-based line the next appended chunk starts on (the line index). */
  nextLine: number;
  /** The same after the chunks stored so far. */
  storedLine: number;
  /**
   * Set when a commit of its chunks failed: appends other than the next
   * seq after what is stored (the agent's resend) are refused until then.
   */
  failed?: unknown;
}

/** A chunk waiting to be stored. */
interface Pending {
  track: Track;
  seq: number;
  chunk: StoredChunk;
  bytes: number;
  /** The chunk's parts; the first `written` are in KV already. */
  parts: string[];
  written: number;
  /** Estimated serialized bytes per character (1 or 2). */
  perChar: number;
  /** Its line index entry, written with its last part. */
  mark: LineMark;
  done: PromiseWithResolvers<void>;
}

/**
 * The output of running commands: appends with exact bookkeeping and the
 * per-command cap, reads and earlier pages.
 *
 * A command is tracked from {@link start} (new) or {@link restore} (after a
 * restart) until {@link finish}; {@link append} takes only tracked commands.
 * Reads work for any command.
 *
 * Appends are stored in batches, off the caller's path: {@link append}
 * updates the bookkeeping at once and queues the chunk; one commit is in
 * flight at a time, and each takes every chunk queued meanwhile (of any
 * command, in append order) up to `batchBytes` and 900 mutations, with the
 * bookkeeping of each command whose chunks it completes. So a lone chunk is
 * stored at once and a flood in few large commits. A chunk too large for
 * one commit is split across several; the bookkeeping (and so the seq a
 * restart resumes from) moves only with its last part. Reads see queued
 * chunks as if they were stored. A commit that fails because the store is
 * away for now (`retryable`) is tried again until it is stored; meanwhile
 * nothing more is acknowledged.
 */
export class OutputLog {
  readonly store: OutputBackend;
  #options: OutputLogOptions;
  #tracked = new Map<string, Track>();
  /**
   * Chunks not stored yet (the first possibly in part), of every command,
   * in append order: at most what the agents' windows allow.
   */
  #queue: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #onStored: (bytes: number) => void;
  /** Set by {@link close}: commits are not retried any more. */
  #closed = false;
  /** Ends the wait before the next retry (set while waiting). */
  #wake: (() => void) | null = null;
  /** When a commit waits for the store to come back (ms since the epoch). */
  #waitingSince: number | null = null;
  /** Why the waiting commit failed last. */
  #retryError: unknown = null;
  /** Resolved when a commit starts waiting for the store (renewed after). */
  #waitStart = Promise.withResolvers<void>();

  constructor(store: OutputBackend, options: OutputLogOptions = {}) {
    this.store = store;
    this.#options = options;
    this.#onStored = options.onStored ?? gcNudger();
  }

  /**
   * Since when (ms since the epoch) output waits for the store to come
   * back ({@link OutputLogOptions.retryable}), or null while it does not.
   */
  get waitingSince(): number | null {
    return this.#waitingSince;
  }

  /** UTF-8 bytes of output appended and not stored yet (all commands). */
  get unstoredBytes(): number {
    let bytes = 0;
    for (const pending of this.#queue) bytes += pending.bytes;
    return bytes;
  }

  /**
   * Stop retrying: a commit waiting for the store fails now (its chunks are
   * not acknowledged; the agents send them again to the next server).
   */
  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  /** Track a new command, with no output yet. */
  start(commandId: string): OutputState {
    return this.#track(commandId, {
      lastSeq: 0,
      outputBytes: 0,
      storedBytes: 0,
    }, 0);
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
    // The line index is written in the commits that store the chunks.
    const last = await lastMark(this.store.kv, commandId);
    return this.#track(
      commandId,
      meta,
      last ? last.firstLine + last.newlines : 0,
    );
  }

  #track(commandId: string, meta: OutputMeta, line: number): OutputState {
    const track: Track = {
      commandId,
      live: { ...meta },
      stored: { ...meta },
      pending: [],
      nextLine: line,
      storedLine: line,
    };
    this.#tracked.set(commandId, track);
    return track.live;
  }

  /**
   * The bookkeeping of a tracked command (live: it changes with appends,
   * and counts chunks not stored yet).
   */
  state(commandId: string): OutputState | undefined {
    return this.#tracked.get(commandId)?.live;
  }

  /**
   * The agent dropped output up to `lastSeq`: the tracked command's
   * `lastSeq` moves there (in memory; the command's record keeps it).
   */
  skipTo(commandId: string, lastSeq: number): void {
    const live = this.#tracked.get(commandId)?.live;
    if (live && lastSeq > live.lastSeq) live.lastSeq = lastSeq;
  }

  /**
   * Stop tracking a command (it finished, or is forgotten). Chunks queued
   * for it are still stored.
   */
  finish(commandId: string): void {
    this.#tracked.delete(commandId);
  }

  /**
   * Append chunk `seq` of tracked command `commandId`, with its UTF-8 byte
   * length `bytes`. The caller appends seqs in increasing order (not
   * necessarily consecutive). The bookkeeping moves at once and reads see
   * the chunk at once; the returned promise resolves when it is stored
   * with the bookkeeping (and rejects when that commit failed: the chunks
   * of that command not stored yet are dropped and its bookkeeping goes
   * back to what is stored). After a commit, when the stored bytes pass
   * the cap, the oldest whole chunks (never the newest stored one) are
   * deleted down to 7/8 of the cap, so at most the cap plus one chunk (plus
   * the chunks not stored yet) stays, and a flood pays for one trim per
   * cap/8 bytes, not one per chunk.
   *
   * @throws {Error} for a command that is not tracked.
   */
  append(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    bytes: number,
  ): Promise<void> {
    const track = this.#tracked.get(commandId);
    if (!track) {
      return Promise.reject(
        new Error(`Output of "${commandId}" is not tracked`),
      );
    }
    if (track.failed !== undefined) {
      if (seq !== track.stored.lastSeq + 1) return Promise.reject(track.failed);
      track.failed = undefined; // The resend: carry on from what is stored.
    }
    const { live } = track;
    live.lastSeq = seq;
    live.outputBytes += bytes;
    live.storedBytes += bytes;
    const parts = splitParts(chunk.data);
    // V8 stores a string with only 1-byte characters at one byte per
    // character, others at two.
    const perChar = bytes === chunk.data.length ? 1 : 2;
    const mark: LineMark = {
      seq,
      firstLine: track.nextLine,
      newlines: countNewlines(chunk.data),
      endsLine: chunk.data.endsWith("\n"),
    };
    track.nextLine += mark.newlines;
    const pending: Pending = {
      track,
      seq,
      chunk,
      bytes,
      parts,
      written: 0,
      perChar,
      mark,
      done: Promise.withResolvers<void>(),
    };
    track.pending.push(pending);
    this.#queue.push(pending);
    this.#flushing ??= this.#flush();
    return pending.done.promise;
  }

  /**
   * Whether {@link append} takes chunk `seq` of `commandId`: after a
   * failed commit only the next seq after what is stored (the resend).
   */
  accepts(commandId: string, seq: number): boolean {
    const track = this.#tracked.get(commandId);
    return track?.failed === undefined || seq === track.stored.lastSeq + 1;
  }

  /** The highest seq of tracked command `commandId` that is stored. */
  storedSeq(commandId: string): number | undefined {
    return this.#tracked.get(commandId)?.stored.lastSeq;
  }

  /**
   * Resolves when every chunk of `commandId` appended so far is stored;
   * rejects when a commit of its chunks failed and the agent has not
   * resent them yet (what it acknowledged or records would miss output).
   */
  async stored(commandId: string): Promise<void> {
    const track = this.#tracked.get(commandId);
    await (track?.pending.at(-1) ?? this.#lastQueued(commandId))?.done.promise;
    if (track?.failed !== undefined) throw track.failed;
  }

  /** Resolves when no chunk of `commandId` waits to be stored (stored or failed). */
  async settled(commandId: string): Promise<void> {
    await this.stored(commandId).catch(() => {});
  }

  #lastQueued(commandId: string): Pending | undefined {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      if (this.#queue[i].track.commandId === commandId) return this.#queue[i];
    }
  }

  /** Resolves when nothing is waiting to be stored. */
  async idle(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /** Commit queued chunks, batch by batch, until none is left. */
  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#commitBatch();
    } finally {
      this.#flushing = null;
    }
  }

  /** One atomic commit of the queue's head, then the cap. */
  async #commitBatch(): Promise<void> {
    const budget = this.#options.batchBytes ?? this.store.batchBytes ??
      BATCH_BYTES;
    const batch: OutputBatch = { parts: [], lines: [], metas: [] };
    let cost = 0;
    let mutations = 0;
    /** Per command: its stored bookkeeping after this commit. */
    const metas = new Map<Track, OutputMeta>();
    const completed: Pending[] = [];
    const touched: Pending[] = [];
    let index = 0;
    while (index < this.#queue.length) {
      const pending = this.#queue[index];
      const { track, parts, chunk, perChar } = pending;
      const meta = metas.get(track);
      // A command new in this commit also needs its bookkeeping written;
      // the chunk's line index entry goes with its last part.
      const extra = (meta ? 0 : 1) + 1;
      const partCost = (part: number) =>
        parts[part].length * perChar + ENTRY_OVERHEAD;
      let rest = 0;
      for (let part = pending.written; part < parts.length; part++) {
        rest += partCost(part);
      }
      const whole = cost + rest <= budget &&
        mutations + parts.length - pending.written + extra <= BATCH_MUTATIONS;
      // A chunk that does not fit whole waits for the next commit, which it
      // starts (and, too large for any, spreads over several).
      if (!whole && touched.length > 0) break;
      const at = chunk.at === undefined ? {} : { at: chunk.at };
      let part = pending.written;
      while (part < parts.length) {
        const more = partCost(part);
        if (
          part > pending.written &&
          (cost + more > budget || mutations + 1 + extra > BATCH_MUTATIONS)
        ) break;
        const value: StoredChunk = part > 0
          ? { stream: chunk.stream, data: parts[part] }
          : parts.length === 1
          ? { stream: chunk.stream, data: parts[0], ...at }
          : {
            stream: chunk.stream,
            data: parts[0],
            parts: parts.length,
            ...at,
          };
        batch.parts.push({
          commandId: track.commandId,
          seq: pending.seq,
          part,
          value,
        });
        cost += more;
        mutations++;
        part++;
      }
      mutations += extra;
      touched.push(pending);
      if (part < parts.length) {
        // Too large for one commit: the rest goes in the next ones.
        pending.written = part;
        break;
      }
      pending.written = parts.length;
      batch.lines.push(lineEntry(track.commandId, pending.mark));
      const before = meta ?? track.stored;
      metas.set(track, {
        lastSeq: pending.seq,
        outputBytes: before.outputBytes + pending.bytes,
        storedBytes: before.storedBytes + pending.bytes,
      });
      completed.push(pending);
      index++;
    }
    for (const [track, meta] of metas) {
      batch.metas.push([track.commandId, meta]);
    }
    for (let attempt = 1;; attempt++) {
      try {
        const delay = this.#options.commitDelayMs ?? 0;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        await this.store.commit(batch);
        break;
      } catch (error) {
        if (this.#closed || !this.#options.retryable?.(error)) {
          this.#setWaiting(false);
          this.#fail(touched, error);
          return;
        }
        // The store is away for now: the same batch again, later.
        this.#retryError = error;
        this.#setWaiting(true);
        this.#options.onRetry?.(error, attempt);
        await this.#pause(this.#options.retryDelayMs?.(attempt) ?? 1000);
      }
    }
    this.#setWaiting(false);
    // Stored: let go of them at once (the data is held nowhere else).
    this.#queue.splice(0, index);
    let storedBytes = 0;
    for (const pending of completed) {
      pending.track.storedLine = pending.mark.firstLine +
        pending.mark.newlines;
      storedBytes += pending.bytes;
    }
    this.#onStored(storedBytes);
    for (const [track, meta] of metas) {
      track.stored = meta;
      track.pending.splice(
        0,
        completed.filter((p) => p.track === track).length,
      );
    }
    for (const [track] of metas) {
      try {
        await this.#applyCap(track);
      } catch (error) {
        // Stored; only the trim failed: the next commit tries again.
        this.#options.onError?.(error);
      }
    }
    for (const pending of completed) pending.done.resolve();
  }

  /** Note whether a commit waits for the store (see {@link waitingSince}). */
  #setWaiting(waiting: boolean): void {
    if (waiting && this.#waitingSince === null) {
      this.#waitingSince = Date.now();
      this.#waitStart.resolve();
    } else if (!waiting && this.#waitingSince !== null) {
      this.#waitingSince = null;
      this.#waitStart = Promise.withResolvers<void>();
    }
  }

  /**
   * Resolves when every chunk of `commandId` appended so far is stored or
   * failed; throws the last commit error at once, or as soon as, output
   * waits for the store to come back (reads of the store would fail too).
   */
  async #settledOrAway(commandId: string): Promise<void> {
    if (this.#waitingSince === null) {
      await Promise.race([this.settled(commandId), this.#waitStart.promise]);
    }
    if (this.#waitingSince !== null) throw this.#retryError;
  }

  /** Wait `ms`, or until {@link close}. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
      if (this.#closed) done();
    });
  }

  /**
   * A commit failed: drop every chunk not stored yet of the commands it
   * touched, reject them, and set their bookkeeping back to what is stored.
   */
  #fail(touched: Pending[], error: unknown): void {
    this.#options.onError?.(error);
    const tracks = new Set(touched.map((p) => p.track));
    const dropped: Pending[] = [];
    const kept: Pending[] = [];
    for (const pending of this.#queue) {
      (tracks.has(pending.track) ? dropped : kept).push(pending);
    }
    this.#queue = kept;
    for (const track of tracks) {
      track.failed = error ?? new Error("Storing output failed");
      track.pending = [];
      track.live.lastSeq = track.stored.lastSeq;
      track.live.outputBytes = track.stored.outputBytes;
      track.live.storedBytes = track.stored.storedBytes;
      track.nextLine = track.storedLine;
    }
    for (const pending of dropped) pending.done.reject(error);
  }

  /** Delete the oldest stored chunks of `track` while over the cap. */
  async #applyCap(track: Track): Promise<void> {
    const cap = this.#options.maxCommandOutputBytes ??
      Number.POSITIVE_INFINITY;
    const { stored, live } = track;
    if (stored.storedBytes <= cap) return;
    const freed = await this.store.dropOldest(
      track.commandId,
      stored.storedBytes - (cap - Math.floor(cap / 8)),
      stored.lastSeq,
      stored,
    );
    stored.storedBytes -= freed;
    live.storedBytes -= freed;
  }

  /**
   * Chunks of `commandId` with `afterSeq < seq <= upTo`, in order: those
   * stored, then those not stored yet (as they were when the first chunk is
   * asked for). Chunks appended later are not included.
   */
  async *read(
    commandId: string,
    afterSeq: number,
    upTo: number = Number.MAX_SAFE_INTEGER - 1,
    batchSize = 500,
  ): AsyncGenerator<ReadChunk> {
    const queued = (this.#tracked.get(commandId)?.pending ?? [])
      .filter((p) => p.seq > afterSeq && p.seq <= upTo);
    const storedUpTo = queued.length ? queued[0].seq - 1 : upTo;
    yield* this.store.read(commandId, afterSeq, storedUpTo, batchSize);
    for (const pending of queued) {
      const { stream, data, at } = pending.chunk;
      yield at === undefined
        ? { seq: pending.seq, stream, data }
        : { seq: pending.seq, stream, data, at };
    }
  }
  /**
   * Highest seq of a command: the tracked bookkeeping's, else the highest
   * stored.
   */
  async lastSeq(commandId: string): Promise<number> {
    return this.#tracked.get(commandId)?.live.lastSeq ??
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
    // Pages are found in the store: first let what was appended so far be
    // stored (not while the store is away: fail now, as reading it would).
    await this.#settledOrAway(commandId);
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

  /**
   * Delete all output of a command (after its chunks waiting to be stored
   * are stored) and stop tracking it.
   */
  async delete(commandId: string): Promise<void> {
    await this.#settledOrAway(commandId);
    this.#tracked.delete(commandId);
    await this.store.delete(commandId);
  }
}
