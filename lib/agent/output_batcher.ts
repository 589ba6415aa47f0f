/**
 * Turns raw stdout/stderr bytes (or PTY text) of one command into
 * `terminal:output` chunks (docs/protocol.md, "Output, resume and replay"),
 * with adaptive batching:
 *
 * - Output after a quiet moment (no chunk emitted in the last
 *   {@link BATCHING.maxDelayMs}) goes at once, pipes and terminals alike: a
 *   keystroke's echo or a sparse line waits for no timer.
 * - What follows within that moment is batched: it goes when the size limit
 *   is reached, or {@link BATCHING.maxDelayMs} after its first byte.
 * - The size limit starts at {@link BATCHING.minFrameBytes} and doubles with
 *   every chunk the limit (not the timer) ended, up to
 *   {@link BATCHING.maxFrameBytes}: sustained output goes in few large frames.
 *   A quiet moment sets it back.
 *
 * No chunk is larger than the largest frame, UTF-8 is never split inside a
 * character, and `seq` is contiguous across streams.
 *
 * @module
 */
import { byteLength, LIMITS } from "../protocol.ts";

/** Output stream of a child process; `pty` is a terminal's merged output. */
export type OutputStream = "stdout" | "stderr" | "pty";

/** One `terminal:output` payload without its command id. */
export interface OutputChunk {
  seq: number;
  stream: OutputStream;
  data: string;
}

/**
 * Default batching: 4 ms, 16 KiB growing to 128 KiB. Measured (100 MiB
 * through a real server, 2 cores): 16 KiB frames cost the server 3.3 s of
 * CPU, 64 KiB 2.0 s, 128 KiB 1.6 s, 256 KiB 1.6 s, 512 KiB 1.5 s; 128 KiB is
 * the largest whose JSON frame fits `LIMITS.maxFrameBytes` whatever the
 * output (a control character takes 6 bytes escaped: 768 KiB).
 */
export const BATCHING = {
  /** Longest wait of a pending byte, and the quiet moment before "at once". */
  maxDelayMs: 4,
  /** Size limit after a quiet moment. */
  minFrameBytes: 16 * 1024,
  /** Largest chunk (the size limit grows up to it). */
  maxFrameBytes: 128 * 1024,
} as const;

/** Options of {@link OutputBatcher}. */
export interface OutputBatcherOptions {
  /** Called synchronously for every chunk, in `seq` order. */
  /** Called with each chunk and its UTF-8 bytes (counted once, here). */
  onChunk: (chunk: OutputChunk, bytes: number) => void;
  /** Size limit after a quiet moment (default {@link BATCHING}). */
  minFrameBytes?: number;
  /** Largest chunk, at most `LIMITS.maxChunkBytes` (default {@link BATCHING}). */
  maxFrameBytes?: number;
  /** Longest wait of a pending byte (default {@link BATCHING}). */
  maxDelayMs?: number;
  /**
   * Emit output at once when no chunk was emitted in the last `maxDelayMs`
   * (default true); false always waits `maxDelayMs` (or the size limit).
   */
  immediateWhenIdle?: boolean;
  /** Clock in ms for the idle check (default `performance.now`). */
  now?: () => number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Split `text` into pieces of at most `maxBytes` UTF-8 bytes, cutting only
 * between characters.
 *
 * @throws {RangeError} When `maxBytes` is below 4 (one character may need 4).
 */
export function splitUtf8(text: string, maxBytes: number): string[] {
  if (maxBytes < 4) throw new RangeError(`Invalid maxBytes "${maxBytes}"`);
  if (byteLength(text) <= maxBytes) return [text];
  const bytes = encoder.encode(text);
  const pieces: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + maxBytes, bytes.length);
    // Back off continuation bytes (10xxxxxx) so the cut is on a boundary.
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end--;
    pieces.push(decoder.decode(bytes.subarray(start, end)));
    start = end;
  }
  return pieces;
}

/**
 * Batches output of one command. Only one stream is pending at a time: bytes
 * of the other stream flush the pending one first, which keeps interleaving.
 *
 * @example
 * ```ts
 * const batcher = new OutputBatcher({ onChunk: (c) => console.log(c) });
 * batcher.push("stdout", new TextEncoder().encode("hi\n"));
 * batcher.end("stdout");
 * batcher.flush();
 * ```
 */
export class OutputBatcher {
  #onChunk: (chunk: OutputChunk, bytes: number) => void;
  #minFrameBytes: number;
  #maxFrameBytes: number;
  #maxDelayMs: number;
  #decoders: Record<OutputStream, TextDecoder> = {
    stdout: new TextDecoder(),
    stderr: new TextDecoder(),
    pty: new TextDecoder(),
  };
  #pending = "";
  #pendingBytes = 0;
  #pendingStream: OutputStream = "stdout";
  /** The size limit now: grows under sustained output. */
  #limit: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;
  #immediate: boolean;
  #now: () => number;
  #lastEmitAt = -Infinity;

  /** @throws {RangeError} When a limit is out of range. */
  constructor(options: OutputBatcherOptions) {
    this.#onChunk = options.onChunk;
    this.#minFrameBytes = options.minFrameBytes ?? BATCHING.minFrameBytes;
    this.#maxFrameBytes = options.maxFrameBytes ??
      Math.max(BATCHING.maxFrameBytes, this.#minFrameBytes);
    this.#maxDelayMs = options.maxDelayMs ?? BATCHING.maxDelayMs;
    this.#immediate = options.immediateWhenIdle ?? true;
    this.#now = options.now ?? (() => performance.now());
    if (
      !(this.#maxFrameBytes >= 4 &&
        this.#maxFrameBytes <= LIMITS.maxChunkBytes)
    ) {
      throw new RangeError(`Invalid maxFrameBytes "${this.#maxFrameBytes}"`);
    }
    if (
      !(this.#minFrameBytes >= 4 && this.#minFrameBytes <= this.#maxFrameBytes)
    ) {
      throw new RangeError(`Invalid minFrameBytes "${this.#minFrameBytes}"`);
    }
    if (!(this.#maxDelayMs >= 0)) {
      throw new RangeError(`Invalid maxDelayMs "${this.#maxDelayMs}"`);
    }
    this.#limit = this.#minFrameBytes;
  }

  /** Seq of the last emitted chunk (0 before the first). */
  get lastSeq(): number {
    return this.#seq;
  }

  /** Largest chunk in UTF-8 bytes. */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  /**
   * Change the largest chunk (e.g. to a quarter of a new send window), at
   * least the size limit after a quiet moment and at most
   * `LIMITS.maxChunkBytes`; out of range values are clamped.
   */
  set maxFrameBytes(value: number) {
    this.#maxFrameBytes = Math.min(
      LIMITS.maxChunkBytes,
      Math.max(this.#minFrameBytes, Math.floor(value)),
    );
    this.#limit = Math.min(this.#limit, this.#maxFrameBytes);
  }

  /** The size limit now, in UTF-8 bytes (it grows under sustained output). */
  get frameLimit(): number {
    return this.#limit;
  }

  /** Add bytes read from `stream`. */
  push(stream: OutputStream, bytes: Uint8Array): void {
    this.#append(
      stream,
      this.#decoders[stream].decode(bytes, { stream: true }),
    );
  }

  /** Add text (e.g. an agent-side error message) to `stream`. */
  pushText(stream: OutputStream, text: string): void {
    this.#append(stream, text);
  }

  /** Mark `stream` as ended: an incomplete trailing character becomes U+FFFD. */
  end(stream: OutputStream): void {
    this.#append(stream, this.#decoders[stream].decode());
  }

  /** Emit everything pending now. */
  flush(): void {
    this.#clearTimer();
    this.#emit(0);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Emit pending output in chunks of at most the largest frame; the last,
   * shorter one only when it has at least `keepUnder` bytes (else it stays
   * pending).
   */
  #emit(keepUnder: number): void {
    while (this.#pendingBytes > 0 && this.#pendingBytes >= keepUnder) {
      let data = this.#pending;
      let bytes = this.#pendingBytes;
      if (bytes > this.#maxFrameBytes) {
        // ASCII (as many bytes as UTF-16 units) is cut by index; anything
        // else on a character boundary of its UTF-8 bytes.
        data = bytes === data.length
          ? data.slice(0, this.#maxFrameBytes)
          : splitUtf8(
            data.slice(0, this.#maxFrameBytes),
            this.#maxFrameBytes,
          )[0];
        bytes = byteLength(data);
      }
      this.#pending = this.#pending.slice(data.length);
      this.#pendingBytes -= bytes;
      this.#lastEmitAt = this.#now();
      this.#onChunk(
        { seq: ++this.#seq, stream: this.#pendingStream, data },
        bytes,
      );
    }
    if (this.#pendingBytes === 0) this.#clearTimer();
  }

  #append(stream: OutputStream, text: string): void {
    if (text === "") return;
    if (this.#pendingBytes > 0 && stream !== this.#pendingStream) this.flush();
    const quiet = this.#pendingBytes === 0 &&
      this.#now() - this.#lastEmitAt >= this.#maxDelayMs;
    this.#pendingStream = stream;
    this.#pending += text;
    this.#pendingBytes += byteLength(text);
    if (quiet) this.#limit = this.#minFrameBytes;
    if (this.#pendingBytes >= this.#limit) {
      // Sustained output: what reached the limit goes now (a rest shorter
      // than it waits for more, or for the timer), and larger frames from
      // now on.
      const limit = this.#limit;
      this.#limit = Math.min(limit * 2, this.#maxFrameBytes);
      this.#emit(limit);
    } else if (quiet && this.#immediate) {
      this.flush(); // idle until now: nothing to batch it with
    }
    if (this.#pendingBytes > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#maxDelayMs);
    }
  }
}
