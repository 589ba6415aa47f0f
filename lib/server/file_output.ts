/**
 * The output log in append-only files: chunk data in segment files, only
 * small bookkeeping in Deno KV. File-backed Deno KV (SQLite) writes every
 * byte twice (WAL, then checkpoint); here each byte of output is written
 * once, and a commit costs one `fdatasync` per command it touches plus one
 * small KV commit.
 *
 * Files, under the folder given (the server's: `<dataDir>/output`, or
 * `<kvPath>-output` when `kvPath` names the KV file; data_dir.ts's
 * `outputDir`), mode 0700, files 0600:
 * - `<name>/<n>.seg`: segment `n` (1, 2, …) of one command's output, where
 *   `<name>` is the command id when it is made of `[A-Za-z0-9_-]` (at most
 *   128), else `~` and the hex of its UTF-8 ({@link folderName}). A commit
 *   appends to the newest segment; once that holds {@link SEGMENT_BYTES} or
 *   more, the next commit starts a new one. Records follow each other with
 *   no gap: a 32-byte header ({@link HEADER_BYTES}: data length, checksum,
 *   seq, receive time, part, parts, stream) and the part's UTF-8 data,
 *   padded with zeros to a multiple of 4 bytes. A chunk is written as the
 *   parts the output log split it into (a chunk spread over several commits
 *   is several records). The checksum covers the header (but itself) and
 *   the data: a record whose data does not match is left out of reads (its
 *   chunk reads as dropped); after a header that is not one, reads go on
 *   at the next index entry past it (what lies between reads as dropped).
 *
 * KV keys (with the same `["out_meta"]`, `["out_line"]` and search entries
 * as {@link OutputStore}):
 * - `["out_file", commandId]` → {@link FileState}: the newest segment and
 *   its committed end, the lowest seq still stored, the newest whole chunk.
 *   Bytes past the committed end (written by a commit whose KV part never
 *   happened: a crash or a failed commit) are never read, and the next
 *   append truncates them before it writes.
 * - `["out_pos", commandId, seq, part]` → `[segment, offset]`: where the
 *   first record of each commit of the command starts (a sparse index: a
 *   read from any seq seeks there and reads at most one commit's records it
 *   does not want).
 *
 * A commit writes each command's records with one write (looped: a write
 * may be partial), `fdatasync`s the files (and the folder of a new file),
 * then writes the bookkeeping, index entries, line index and metas in ONE
 * atomic KV commit: only then does it resolve, so what it stored is
 * durable, and a crash in between leaves only bytes past the committed end.
 * Commits take up to {@link FILE_BATCH_BYTES} of output (the output log
 * reads {@link FileOutputStore.batchBytes}).
 *
 * Commands stored in KV (by older versions, or with `newIn: "kv"`: whose
 * `["out_meta"]` or `["out"]` entries exist with no `["out_file"]`) stay
 * there: their reads and writes go to an {@link OutputStore} on the same KV.
 *
 * One process owns the folder (as it owns the KV file).
 *
 * @module
 */
import type { Stream } from "../protocol.ts";
import { ensurePrivateDir } from "./data_dir.ts";
import {
  BATCH_BYTES,
  type OutputBackend,
  type OutputBatch,
  type OutputMeta,
  OutputStore,
  type ReadChunk,
  splitParts,
  type StoredChunk,
} from "./output_log.ts";

/** Where new commands' output goes: files, or KV as before. */
export type OutputStoreMode = "file" | "kv";

/** A command's file bookkeeping, as stored at `["out_file", id]`. */
export interface FileState {
  /** The newest segment (1-based). */
  seg: number;
  /** Committed end (bytes) of segment {@link seg}. */
  end: number;
  /** The lowest segment that may still be on disk. */
  firstSeg: number;
  /** Chunks with a lower seq were dropped (the per-command cap). */
  from: number;
  /** The highest seq of a whole chunk stored (0: none). */
  last: number;
  /**
   * `[seq, parts]` of a chunk split into parts whose last part is not
   * stored yet (it spreads over several commits), when there is one.
   */
  open?: [number, number];
}

/**
 * Most bytes of output per commit when new output goes to files: a commit
 * costs a file sync and a KV commit whatever its size, so larger commits
 * store more per second; half the agent's default window (4 MiB), so the
 * agent keeps sending while one commit is in flight.
 */
export const FILE_BATCH_BYTES = 2 * 1024 * 1024;
/**
 * Estimated serialized bytes of output chunks stored in KV per atomic
 * commit (KV allows 800 KiB), for commands kept in KV within larger batches.
 */
const KV_PART_BYTES = 640 * 1024;
/** A segment takes no more commits once it holds this much: 4 MiB. */
export const SEGMENT_BYTES = 4 * 1024 * 1024;
/** Bytes of a record's header. */
export const HEADER_BYTES = 32;
/** Byte 29 of every header. */
const MARK = 0xfd;
/** Largest data of one record: a part of 16 Ki + 1 UTF-16 units, 3 bytes each. */
const MAX_RECORD_DATA = (16 * 1024 + 1) * 3;
/** Bytes read from a segment at a time. */
const READ_BLOCK = 1024 * 1024;
/** Segment files kept open for appends. */
const OPEN_FILES = 16;
/** Commands whose file bookkeeping is kept in memory. */
const CACHE_SIZE = 1024;
/** Mutations per atomic operation when deleting many keys. */
const DELETE_BATCH = 500;

const STREAMS: readonly Stream[] = ["stdout", "stderr", "pty"];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A record as read: its header, and its data unless only headers were asked. */
interface Rec {
  seq: number;
  part: number;
  parts: number;
  stream: Stream;
  at: number | undefined;
  bytes: number;
  data: string | null;
  /** The data's checksum did not match (only checked when data is read). */
  damaged: boolean;
}

/** A whole chunk assembled from its records. */
interface Whole {
  seq: number;
  stream: Stream;
  at: number | undefined;
  bytes: number;
  data: string;
}

/** A sparse index entry: the record of `[seq, part]` starts at `[seg, offset]`. */
interface Pos {
  seq: number;
  part: number;
  seg: number;
  offset: number;
}

type Mode = { mode: "kv" } | { mode: "file"; state: FileState };

/** `n` rounded up to a multiple of 4. */
function padded(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Checksum of `bytes` (length a multiple of 4, offset 4-aligned), seeded
 * with `seed`: a 32-bit FNV-style hash of its 32-bit words, mixed with their
 * sum. Detects damage, not tampering.
 */
function checksum(bytes: Uint8Array, seed: number): number {
  const words = new Int32Array(
    bytes.buffer,
    bytes.byteOffset,
    bytes.length >> 2,
  );
  let h = (0x811c9dc5 ^ seed) | 0;
  let s = seed | 0;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    h = Math.imul(h ^ w, 0x01000193);
    s = (s + w) | 0;
  }
  return (h ^ Math.imul(s, 0x9e3779b1)) >>> 0;
}

/**
 * The folder name of a command's output: the id itself when it is made of
 * `[A-Za-z0-9_-]` (at most 128), else `~` and the hex of its UTF-8, of at
 * most its first 100 bytes, followed for longer ids by `.` and a 64-bit hash
 * of the whole id (names stay under 255 bytes).
 */
export function folderName(commandId: string): string {
  if (/^[A-Za-z0-9_-]{1,128}$/.test(commandId)) return commandId;
  const bytes = encoder.encode(commandId);
  const hex = (b: Uint8Array) =>
    Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  if (bytes.length <= 100) return "~" + hex(bytes);
  let a = 0x811c9dc5, b = 0x01000193 ^ bytes.length;
  for (const byte of bytes) {
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x5bd1e995) ^ (b >>> 13);
  }
  const hash = ((a >>> 0).toString(16).padStart(8, "0")) +
    ((b >>> 0).toString(16).padStart(8, "0"));
  return `~${hex(bytes.subarray(0, 100))}.${hash}`;
}

/** Options of {@link FileOutputStore}. */
export interface FileOutputOptions {
  /** Where commands with no output yet store it (default `"file"`). */
  newIn?: OutputStoreMode;
  /** Segment size (tests: small segments). Default {@link SEGMENT_BYTES}. */
  segmentBytes?: number;
}

/** Output data in append-only files, bookkeeping in Deno KV. */
export class FileOutputStore implements OutputBackend {
  readonly kv: Deno.Kv;
  /** The folder of the output files. */
  readonly dir: string;
  /** Reads and writes of commands kept in KV. */
  readonly inKv: OutputStore;
  /** See {@link OutputBackend.batchBytes}: larger with new output in files. */
  readonly batchBytes: number;
  #newIn: OutputStoreMode;
  #segmentBytes: number;
  /** Where each recently used command's output is (least recent first). */
  #modes = new Map<string, Mode>();
  /** Serializes what writes (commit, drop, delete). */
  #lock: Promise<void> = Promise.resolve();
  /** Whether {@link dir} exists (created private on first use). */
  #ready: Promise<void> | null = null;
  /**
   * The newest segment of recently written commands, open for the next
   * append (at most {@link OPEN_FILES}; least recently used first): its
   * size and where the file position is, as this process left them.
   */
  #open = new Map<
    string,
    { seg: number; file: Deno.FsFile; size: number; pos: number }
  >();
  /** Encoding buffer, reused by commits (they run one at a time). */
  #scratch = new Uint8Array(0);

  constructor(kv: Deno.Kv, dir: string, options: FileOutputOptions = {}) {
    this.kv = kv;
    this.dir = dir;
    this.inKv = new OutputStore(kv);
    this.#newIn = options.newIn ?? "file";
    this.batchBytes = this.#newIn === "file" ? FILE_BATCH_BYTES : BATCH_BYTES;
    this.#segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
  }

  /** Run `fn` after every write operation started before it. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.then(() => {}, () => {});
    return run;
  }

  #ensureDir(): Promise<void> {
    this.#ready ??= (async () => {
      await ensurePrivateDir(this.dir);
      await syncDir(parentOf(this.dir));
    })().catch((error) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }

  #folder(commandId: string): string {
    return `${this.dir}/${folderName(commandId)}`;
  }

  #segment(commandId: string, seg: number): string {
    return `${this.#folder(commandId)}/${seg}.seg`;
  }

  #remember(commandId: string, mode: Mode): void {
    this.#modes.delete(commandId);
    this.#modes.set(commandId, mode);
    if (this.#modes.size > CACHE_SIZE) {
      this.#modes.delete(this.#modes.keys().next().value!);
    }
  }

  /**
   * Where a command's output is: in files (with its bookkeeping), in KV
   * (stored so by an older version or in KV mode), or null: none stored.
   */
  async #mode(commandId: string): Promise<Mode | null> {
    const cached = this.#modes.get(commandId);
    if (cached) {
      this.#remember(commandId, cached);
      return cached;
    }
    const [file, meta] = await this.kv.getMany<[FileState, OutputMeta]>([
      ["out_file", commandId],
      ["out_meta", commandId],
    ]);
    let mode: Mode | null = null;
    if (file.value) mode = { mode: "file", state: file.value };
    else if (meta.value) mode = { mode: "kv" };
    else {
      const iter = this.kv.list({ prefix: ["out", commandId] }, { limit: 1 });
      for await (const _ of iter) mode = { mode: "kv" };
    }
    if (mode) this.#remember(commandId, mode);
    return mode;
  }

  /** The file bookkeeping of a command stored in files, else null. */
  async #state(commandId: string): Promise<FileState | null> {
    const mode = await this.#mode(commandId);
    return mode?.mode === "file" ? { ...mode.state } : null;
  }

  /**
   * Store one chunk (split into parts as the output log does), with the
   * command's bookkeeping when given.
   *
   * @throws {RangeError} for a seq not above the highest stored in files.
   */
  async write(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    meta?: OutputMeta,
  ): Promise<void> {
    const state = await this.#state(commandId);
    if (state && seq <= state.last) {
      throw new RangeError(
        `Output seq ${seq} of "${commandId}" is not above ${state.last}`,
      );
    }
    const parts = splitParts(chunk.data);
    const at = chunk.at === undefined ? {} : { at: chunk.at };
    await this.commit({
      parts: parts.map((data, part) => ({
        commandId,
        seq,
        part,
        value: part > 0
          ? { stream: chunk.stream, data }
          : parts.length === 1
          ? { stream: chunk.stream, data, ...at }
          : { stream: chunk.stream, data, parts: parts.length, ...at },
      })),
      lines: [],
      metas: meta ? [[commandId, meta]] : [],
    });
  }

  /**
   * Store one {@link OutputBatch}: each file command's records appended and
   * synced, then everything else in one atomic KV commit. Parts of a seq
   * not above the highest whole chunk stored are left out (stored already).
   */
  commit(batch: OutputBatch): Promise<void> {
    return this.#serial(() => this.#commit(batch));
  }

  async #commit(batch: OutputBatch): Promise<void> {
    const byCommand = new Map<string, OutputBatch["parts"]>();
    for (const part of batch.parts) {
      let list = byCommand.get(part.commandId);
      if (!list) byCommand.set(part.commandId, list = []);
      list.push(part);
    }
    let op = this.kv.atomic();
    /** Estimated bytes of chunks in KV in `op`. */
    let inKvBytes = 0;
    const files: {
      commandId: string;
      state: FileState | null;
      parts: OutputBatch["parts"];
    }[] = [];
    for (const [commandId, parts] of byCommand) {
      const mode = await this.#mode(commandId);
      if (mode?.mode === "kv" || (!mode && this.#newIn === "kv")) {
        for (const { seq, part, value } of parts) {
          // Within a batch larger than KV takes (KV_PART_BYTES), earlier
          // parts go in commits of their own; the last commit, with the
          // bookkeeping, says they are stored (as with a chunk spread over
          // several commits, storing a part twice overwrites it).
          const cost = value.data.length * 2 + 96;
          if (inKvBytes > 0 && inKvBytes + cost > KV_PART_BYTES) {
            await commitOrThrow(op);
            op = this.kv.atomic();
            inKvBytes = 0;
          }
          op.set(["out", commandId, seq, part], value);
          inKvBytes += cost;
        }
        continue;
      }
      const state = mode?.mode === "file" ? { ...mode.state } : null;
      const kept = state ? parts.filter((p) => p.seq > state.last) : parts;
      if (kept.length) files.push({ commandId, state, parts: kept });
    }
    // Encode every file command's records into one buffer, each its own
    // region (4-byte aligned: the checksum reads 32-bit words).
    let need = 0;
    for (const { parts } of files) {
      for (const { value } of parts) {
        if (value.data.length * 3 > MAX_RECORD_DATA) {
          throw new RangeError(
            `Output part of ${value.data.length} characters: at most ${
              MAX_RECORD_DATA / 3
            } (splitParts)`,
          );
        }
        need += HEADER_BYTES + padded(value.data.length * 3);
      }
    }
    if (this.#scratch.length < need) {
      this.#scratch = new Uint8Array(Math.max(need, this.#scratch.length * 2));
    }
    const scratch = this.#scratch;
    const view = new DataView(scratch.buffer);
    let offset = 0;
    const writes: {
      commandId: string;
      state: FileState;
      fresh: boolean;
      bytes: Uint8Array;
      first: { seq: number; part: number };
    }[] = [];
    for (const { commandId, state, parts } of files) {
      const start = offset;
      let last = state?.last ?? 0;
      let open = state?.open;
      for (const { seq, part, value } of parts) {
        const data = scratch.subarray(offset + HEADER_BYTES);
        const { written } = encoder.encodeInto(value.data, data);
        const size = padded(written);
        scratch.fill(
          0,
          offset + HEADER_BYTES + written,
          offset + HEADER_BYTES + size,
        );
        const h = offset;
        view.setUint32(h, written, true);
        view.setFloat64(h + 8, seq, true);
        view.setFloat64(h + 16, value.at ?? NaN, true);
        view.setUint16(h + 24, part, true);
        view.setUint16(h + 26, part === 0 ? value.parts ?? 1 : 0, true);
        view.setUint8(h + 28, STREAMS.indexOf(value.stream));
        view.setUint8(h + 29, MARK);
        view.setUint16(h + 30, 0, true);
        view.setUint32(
          h + 4,
          checksum(scratch.subarray(h + 8, h + HEADER_BYTES + size), written),
          true,
        );
        offset += HEADER_BYTES + size;
        // A chunk is whole with its last part: part n - 1 of the n that
        // its part 0 (in this commit or an earlier one) announced.
        if (part === 0) {
          const count = value.parts ?? 1;
          open = count > 1 ? [seq, count] : undefined;
          if (count === 1) last = seq;
        } else if (open && open[0] === seq && part === open[1] - 1) {
          open = undefined;
          last = seq;
        }
      }
      let next: FileState;
      let fresh = false;
      if (!state) {
        next = { seg: 1, end: 0, firstSeg: 1, from: 0, last: 0 };
        fresh = true;
      } else if (state.end >= this.#segmentBytes) {
        next = { ...state, seg: state.seg + 1, end: 0 };
        fresh = true;
      } else next = { ...state };
      next.last = last;
      if (open) next.open = open;
      else delete next.open;
      writes.push({
        commandId,
        state: next,
        fresh,
        bytes: scratch.subarray(start, offset),
        first: { seq: parts[0].seq, part: parts[0].part },
      });
    }
    if (writes.length) await this.#ensureDir();
    try {
      await Promise.all(writes.map((w) => this.#append(w)));
    } finally {
      // Keep the most recently written open (none is being written now).
      while (this.#open.size > OPEN_FILES) {
        this.#closeFile(this.#open.keys().next().value!);
      }
    }
    for (const w of writes) {
      op.set(["out_pos", w.commandId, w.first.seq, w.first.part], [
        w.state.seg,
        w.state.end,
      ]);
      w.state.end += w.bytes.length;
      op.set(["out_file", w.commandId], w.state);
    }
    for (const [key, value] of batch.lines) op.set(key, value);
    for (const [commandId, meta] of batch.metas) {
      op.set(["out_meta", commandId], meta);
    }
    await commitOrThrow(op);
    for (const w of writes) {
      this.#remember(w.commandId, { mode: "file", state: w.state });
    }
    for (const [commandId] of byCommand) {
      if (!this.#modes.has(commandId)) {
        this.#remember(commandId, { mode: "kv" });
      }
    }
  }

  /**
   * Write `bytes` at `state.end` of segment `state.seg` (truncating what
   * lies past it first: bytes of a commit that never completed), then sync
   * the file, and the folders of what is new.
   */
  async #append(
    w: {
      commandId: string;
      state: FileState;
      fresh: boolean;
      bytes: Uint8Array;
    },
  ): Promise<void> {
    const folder = this.#folder(w.commandId);
    if (w.state.seg === 1 && w.fresh) {
      await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
      await syncDir(this.dir);
    }
    let open = this.#open.get(w.commandId);
    if (open && open.seg !== w.state.seg) {
      this.#closeFile(w.commandId);
      open = undefined;
    }
    try {
      if (!open) {
        const file = await Deno.open(this.#segment(w.commandId, w.state.seg), {
          read: true,
          write: true,
          create: true,
          mode: 0o600,
        });
        open = { seg: w.state.seg, file, size: -1, pos: 0 };
        this.#open.set(w.commandId, open);
        open.size = (await file.stat()).size;
      } else {
        // Most recently used last.
        this.#open.delete(w.commandId);
        this.#open.set(w.commandId, open);
      }
      const { file } = open;
      if (open.size !== w.state.end) {
        await file.truncate(w.state.end);
        open.size = w.state.end;
      }
      if (open.pos !== w.state.end) {
        await file.seek(w.state.end, Deno.SeekMode.Start);
        open.pos = w.state.end;
      }
      let done = 0;
      while (done < w.bytes.length) {
        const n = await file.write(w.bytes.subarray(done));
        done += n;
        open.pos += n;
        open.size = Math.max(open.size, open.pos);
      }
      await file.syncData();
    } catch (error) {
      // Where the file stands is not known: open it again next time.
      this.#closeFile(w.commandId);
      throw error;
    }
    if (w.fresh) await syncDir(folder);
  }

  /** Close the open segment of a command, if any. */
  #closeFile(commandId: string): void {
    const open = this.#open.get(commandId);
    if (!open) return;
    this.#open.delete(commandId);
    try {
      open.file.close();
    } catch {
      // Closed already.
    }
  }

  /**
   * Close the segment files kept open for appends (after the writes
   * started before); a later write opens them again.
   */
  close(): Promise<void> {
    return this.#serial(() => {
      for (const commandId of [...this.#open.keys()]) {
        this.#closeFile(commandId);
      }
      return Promise.resolve();
    });
  }

  /** A command's output bookkeeping, if written. */
  meta(commandId: string): Promise<OutputMeta | null> {
    return this.inKv.meta(commandId);
  }

  /** Highest stored seq of a command (0 when none). */
  async lastSeq(commandId: string): Promise<number> {
    const mode = await this.#mode(commandId);
    if (mode?.mode === "file") return mode.state.last;
    return await this.inKv.lastSeq(commandId);
  }

  /**
   * The index entry to read from to find chunk `seq` (its record is there
   * or after): the last at or before `[seq, 0]`, else the first.
   */
  async #locate(commandId: string, seq: number): Promise<Pos | null> {
    const toPos = (entry: Deno.KvEntry<[number, number]>): Pos => ({
      seq: Number(entry.key[2]),
      part: Number(entry.key[3]),
      seg: entry.value[0],
      offset: entry.value[1],
    });
    for await (
      const entry of this.kv.list<[number, number]>({
        start: ["out_pos", commandId],
        end: ["out_pos", commandId, seq, 1],
      }, { reverse: true, limit: 1 })
    ) return toPos(entry);
    for await (
      const entry of this.kv.list<[number, number]>({
        prefix: ["out_pos", commandId],
      }, { limit: 1 })
    ) return toPos(entry);
    return null;
  }

  /**
   * The records of a command from index entry `start` on, up to the
   * committed end, with their data when `withData` (and checked against
   * their checksum), else headers only. A segment deleted meanwhile (the
   * cap) is skipped; after a header that is not one (a damaged file) the
   * records go on at the next index entry past it ({@link #resync}).
   *
   * @throws {Error} when a segment cannot be read.
   */
  async *#records(
    commandId: string,
    state: FileState,
    start: Pos,
    withData: boolean,
  ): AsyncGenerator<Rec> {
    let { seg, offset } = start;
    /** Index key of the last record read whole (where a resync looks on). */
    let lastKey: [number, number] = [start.seq, start.part];
    while (seg <= state.seg) {
      const path = this.#segment(commandId, seg);
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { read: true });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        seg++;
        offset = 0;
        continue;
      }
      /** Set at a damaged header: where to go on (null: nowhere). */
      let jump: Pos | null | undefined;
      try {
        const end = seg === state.seg ? state.end : (await file.stat()).size;
        let buf = new Uint8Array(0);
        /** File offset of buf[0]. */
        let base = offset;
        const fill = async (from: number, need: number) => {
          // Make buf cover [from, from + need) (need ≤ end - from).
          if (from >= base && from + need <= base + buf.length) return;
          const have = from >= base && from < base + buf.length
            ? buf.subarray(from - base)
            : new Uint8Array(0);
          if (have.length === 0) await file.seek(from, Deno.SeekMode.Start);
          const size = Math.min(end - from, Math.max(need, READ_BLOCK));
          const next = new Uint8Array(size);
          next.set(have);
          let filled = have.length;
          while (filled < size) {
            const n = await file.read(next.subarray(filled));
            if (n === null) break;
            filled += n;
          }
          if (filled < need) {
            throw new Error(`Output file ${path} ends before ${from + need}`);
          }
          buf = next.subarray(0, filled);
          base = from;
        };
        let at = offset;
        while (at < end) {
          let view: DataView | null = null;
          if (end - at >= HEADER_BYTES) {
            await fill(at, HEADER_BYTES);
            view = new DataView(
              buf.buffer,
              buf.byteOffset + at - base,
              HEADER_BYTES,
            );
          }
          const bytes = view?.getUint32(0, true) ?? 0;
          const stream = STREAMS[view?.getUint8(28) ?? -1];
          const seq = view?.getFloat64(8, true) ?? NaN;
          if (
            !view || view.getUint8(29) !== MARK || bytes > MAX_RECORD_DATA ||
            stream === undefined || !Number.isSafeInteger(seq) ||
            at + HEADER_BYTES + padded(bytes) > end
          ) {
            // Not a header: go on at the next index entry past it (what
            // lies between is left out, as if dropped).
            jump = await this.#resync(commandId, state, lastKey, seg, at);
            break;
          }
          const atTime = view.getFloat64(16, true);
          const rec: Rec = {
            seq,
            part: view.getUint16(24, true),
            parts: view.getUint16(26, true),
            stream,
            at: Number.isNaN(atTime) ? undefined : atTime,
            bytes,
            data: null,
            damaged: false,
          };
          const size = HEADER_BYTES + padded(bytes);
          if (withData) {
            await fill(at, size);
            const r = at - base;
            const sum = view.getUint32(4, true);
            const body = buf.subarray(r + 8, r + size);
            const aligned = body.byteOffset % 4 === 0 ? body : body.slice();
            rec.damaged = checksum(aligned, bytes) !== sum;
            rec.data = decoder.decode(
              buf.subarray(r + HEADER_BYTES, r + HEADER_BYTES + bytes),
            );
          }
          at += size;
          if (!rec.damaged) lastKey = [rec.seq, rec.part];
          yield rec;
        }
      } finally {
        file.close();
      }
      if (jump === null) return;
      if (jump) {
        seg = jump.seg;
        offset = jump.offset;
      } else {
        seg++;
        offset = 0;
      }
    }
  }

  /**
   * The first index entry from key `from` on whose record starts past
   * `[seg, at]` (a damaged header there), within the committed output;
   * null when none.
   */
  async #resync(
    commandId: string,
    state: FileState,
    from: [number, number],
    seg: number,
    at: number,
  ): Promise<Pos | null> {
    const entries = this.kv.list<[number, number]>({
      start: ["out_pos", commandId, ...from],
      end: ["out_pos", commandId, Number.MAX_SAFE_INTEGER],
    }, { batchSize: 16 });
    for await (const entry of entries) {
      const [s, o] = entry.value;
      if (s > state.seg || (s === state.seg && o >= state.end)) return null;
      if (s > seg || (s === seg && o > at)) {
        return {
          seq: Number(entry.key[2]),
          part: Number(entry.key[3]),
          seg: s,
          offset: o,
        };
      }
    }
    return null;
  }

  /**
   * Whole chunks from `records`, in order: parts joined; a chunk whose
   * parts do not all follow (written again after a failed commit, or
   * damaged) is left out, as is a seq not above the last one given.
   */
  async *#wholes(records: AsyncGenerator<Rec>): AsyncGenerator<Whole> {
    let current: Whole | null = null;
    let expected = 0;
    let next = 0;
    let damaged = false;
    let last = -1;
    for await (const rec of records) {
      if (rec.part === 0) {
        current = {
          seq: rec.seq,
          stream: rec.stream,
          at: rec.at,
          bytes: rec.bytes,
          data: rec.data ?? "",
        };
        expected = rec.parts;
        next = 1;
        damaged = rec.damaged;
      } else if (current && current.seq === rec.seq && rec.part === next) {
        current.bytes += rec.bytes;
        if (rec.data !== null) current.data += rec.data;
        next++;
        damaged ||= rec.damaged;
      } else {
        current = null;
        continue;
      }
      if (current && next === expected) {
        if (!damaged && current.seq > last) {
          last = current.seq;
          yield current;
        }
        current = null;
      }
    }
  }

  /** Chunks with `afterSeq < seq <= upTo`, in seq order. */
  async *read(
    commandId: string,
    afterSeq: number,
    upTo: number = Number.MAX_SAFE_INTEGER - 1,
    batchSize = 500,
  ): AsyncGenerator<ReadChunk> {
    const state = await this.#state(commandId);
    if (!state) {
      yield* this.inKv.read(commandId, afterSeq, upTo, batchSize);
      return;
    }
    const lowest = Math.max(afterSeq + 1, state.from);
    if (lowest > Math.min(upTo, state.last)) return;
    const pos = await this.#locate(commandId, lowest);
    if (!pos) return;
    const records = this.#records(commandId, state, pos, true);
    for await (const chunk of this.#wholes(records)) {
      if (chunk.seq > upTo) break;
      if (chunk.seq < lowest) continue;
      yield chunk.at === undefined
        ? { seq: chunk.seq, stream: chunk.stream, data: chunk.data }
        : {
          seq: chunk.seq,
          stream: chunk.stream,
          data: chunk.data,
          at: chunk.at,
        };
    }
  }

  /** Where a page of about `maxBytes` before `beforeSeq` starts, or null. */
  async pageStart(
    commandId: string,
    beforeSeq: number,
    maxBytes: number,
  ): Promise<number | null> {
    const state = await this.#state(commandId);
    if (!state) {
      return await this.inKv.pageStart(commandId, beforeSeq, maxBytes);
    }
    let start: number | null = null;
    let bytes = 0;
    /** Chunks below this seq are still to be counted. */
    let upper = beforeSeq;
    const entries = this.kv.list<[number, number]>({
      start: ["out_pos", commandId],
      end: ["out_pos", commandId, beforeSeq, 0],
    }, { reverse: true, batchSize: 16 });
    for await (const entry of entries) {
      if (upper <= state.from) break;
      const seq = Number(entry.key[2]);
      const part = Number(entry.key[3]);
      const found: Whole[] = [];
      const records = this.#records(commandId, state, {
        seq,
        part,
        seg: entry.value[0],
        offset: entry.value[1],
      }, false);
      for await (const chunk of this.#wholes(stopAt(records, upper))) {
        if (chunk.seq >= state.from) found.push(chunk);
      }
      for (let i = found.length - 1; i >= 0; i--) {
        const chunk = found[i];
        if (start !== null && bytes + chunk.bytes > maxBytes) return start;
        bytes += chunk.bytes;
        start = chunk.seq;
      }
      upper = Math.min(upper, found[0]?.seq ?? upper, part > 0 ? seq + 1 : seq);
    }
    return start;
  }

  /**
   * Drop the oldest whole chunks with `seq < beforeSeq` until at least
   * `bytes` are freed: the bookkeeping's lowest seq moves past them and
   * `meta` is written with `storedBytes` lowered, in one KV commit; then
   * segment files holding only dropped chunks are deleted with their index
   * entries. Returns the bytes freed.
   */
  dropOldest(
    commandId: string,
    bytes: number,
    beforeSeq: number,
    meta: OutputMeta,
  ): Promise<number> {
    return this.#serial(async () => {
      const state = await this.#state(commandId);
      if (!state) {
        return await this.inKv.dropOldest(commandId, bytes, beforeSeq, meta);
      }
      const pos = await this.#locate(commandId, state.from);
      if (!pos) return 0;
      let freed = 0;
      let from = beforeSeq;
      const records = this.#records(commandId, state, pos, false);
      for await (const chunk of this.#wholes(stopAt(records, beforeSeq))) {
        if (chunk.seq < state.from) continue;
        if (freed >= bytes) {
          from = chunk.seq;
          break;
        }
        freed += chunk.bytes;
      }
      if (freed === 0) return 0;
      const next: FileState = { ...state, from };
      const result = await this.kv.atomic()
        .set(["out_file", commandId], next)
        .set(["out_meta", commandId], {
          ...meta,
          storedBytes: meta.storedBytes - freed,
        })
        .commit();
      if (!result.ok) throw new Error("Dropping output failed (KV check)");
      this.#remember(commandId, { mode: "file", state: next });
      await this.#release(commandId, next);
      return freed;
    });
  }

  /**
   * Delete the segments and index entries before the one holding chunk
   * `state.from` (all their chunks are dropped). Disk space lags the drop
   * by at most a segment.
   */
  async #release(commandId: string, state: FileState): Promise<void> {
    const keep = await this.#locate(commandId, state.from);
    if (!keep || keep.seg <= state.firstSeg) return;
    let op = this.kv.atomic();
    let count = 0;
    for await (
      const entry of this.kv.list({
        start: ["out_pos", commandId],
        end: ["out_pos", commandId, keep.seq, keep.part],
      })
    ) {
      op.delete(entry.key);
      if (++count % DELETE_BATCH === 0) {
        await op.commit();
        op = this.kv.atomic();
      }
    }
    await op.commit();
    for (let seg = state.firstSeg; seg < keep.seg; seg++) {
      await Deno.remove(this.#segment(commandId, seg)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
    // Written with the next commit's bookkeeping; if that never comes the
    // next drop deletes from the old first segment again (missing is fine).
    const mode = this.#modes.get(commandId);
    if (mode?.mode === "file") mode.state.firstSeg = keep.seg;
  }

  /**
   * Delete all output of a command: its folder, its file bookkeeping and
   * index, and what {@link OutputStore.delete} deletes (KV chunks, meta,
   * resizes, line and search index).
   */
  delete(commandId: string): Promise<void> {
    return this.#serial(async () => {
      const state = await this.#state(commandId);
      this.#closeFile(commandId);
      if (state) {
        await Deno.remove(this.#folder(commandId), { recursive: true }).catch(
          (error) => {
            if (!(error instanceof Deno.errors.NotFound)) throw error;
          },
        );
      }
      let op = this.kv.atomic();
      let count = 0;
      for await (
        const entry of this.kv.list({ prefix: ["out_pos", commandId] })
      ) {
        op.delete(entry.key);
        if (++count % DELETE_BATCH === 0) {
          await op.commit();
          op = this.kv.atomic();
        }
      }
      op.delete(["out_file", commandId]);
      await op.commit();
      this.#modes.delete(commandId);
      await this.inKv.delete(commandId);
    });
  }
}

async function commitOrThrow(op: Deno.AtomicOperation): Promise<void> {
  const result = await op.commit();
  if (!result.ok) throw new Error("Storing output failed (KV check)");
}

/** Records from `records` until one with `seq >= upper`. */
async function* stopAt(
  records: AsyncGenerator<Rec>,
  upper: number,
): AsyncGenerator<Rec> {
  for await (const rec of records) {
    if (rec.seq >= upper) return;
    yield rec;
  }
}

function parentOf(path: string): string {
  const at = path.replace(/\/+$/, "").lastIndexOf("/");
  return at > 0 ? path.slice(0, at) : at === 0 ? "/" : ".";
}

/** fsync a folder, so the names created in it are durable. */
async function syncDir(path: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}
