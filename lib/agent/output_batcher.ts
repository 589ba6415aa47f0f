/**
 * Turns raw stdout/stderr bytes (or PTY text) of one command into
 * `terminal:output` chunks (docs/protocol.md, "Output, resume and replay"): batched per
 * stream, 16 KiB or 16 ms whichever first, UTF-8 never split inside a
 * character, `seq` contiguous across streams. Terminal (`pty`) output after
 * a quiet moment (no chunk in the last 16 ms) goes at once, so a keystroke's
 * echo waits for no timer; what follows it within 16 ms is batched.
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

/** Options of {@link OutputBatcher}. */
export interface OutputBatcherOptions {
  /** Called synchronously for every chunk, in `seq` order. */
  onChunk: (chunk: OutputChunk) => void;
  /** Flush when this many bytes are pending (default 16 KiB). */
  maxPendingBytes?: number;
  /** Flush this long after the first pending byte (default 16 ms). */
  maxDelayMs?: number;
  /**
   * Emit `pty` output at once when no chunk was emitted in the last
   * `maxDelayMs` (default true); false always waits `maxDelayMs` (or the
   * size limit). Pipe output (stdout, stderr) always waits.
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
  #onChunk: (chunk: OutputChunk) => void;
  #maxPendingBytes: number;
  #maxDelayMs: number;
  #decoders: Record<OutputStream, TextDecoder> = {
    stdout: new TextDecoder(),
    stderr: new TextDecoder(),
    pty: new TextDecoder(),
  };
  #pending = "";
  #pendingBytes = 0;
  #pendingStream: OutputStream = "stdout";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;
  #immediate: boolean;
  #now: () => number;
  #lastEmitAt = -Infinity;

  /** @throws {RangeError} When a limit is out of range. */
  constructor(options: OutputBatcherOptions) {
    this.#onChunk = options.onChunk;
    this.#maxPendingBytes = options.maxPendingBytes ?? 16 * 1024;
    this.#maxDelayMs = options.maxDelayMs ?? 16;
    this.#immediate = options.immediateWhenIdle ?? true;
    this.#now = options.now ?? (() => performance.now());
    if (
      this.#maxPendingBytes < 4 ||
      this.#maxPendingBytes > LIMITS.maxChunkBytes
    ) {
      throw new RangeError(
        `Invalid maxPendingBytes "${this.#maxPendingBytes}"`,
      );
    }
  }

  /** Seq of the last emitted chunk (0 before the first). */
  get lastSeq(): number {
    return this.#seq;
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
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === "") return;
    const text = this.#pending;
    this.#pending = "";
    this.#pendingBytes = 0;
    this.#lastEmitAt = this.#now();
    for (const data of splitUtf8(text, this.#maxPendingBytes)) {
      this.#onChunk({ seq: ++this.#seq, stream: this.#pendingStream, data });
    }
  }

  #append(stream: OutputStream, text: string): void {
    if (text === "") return;
    if (this.#pending !== "" && stream !== this.#pendingStream) this.flush();
    this.#pendingStream = stream;
    this.#pending += text;
    this.#pendingBytes += byteLength(text);
    if (this.#pendingBytes >= this.#maxPendingBytes) {
      this.flush();
    } else if (
      this.#timer === undefined && this.#immediate && stream === "pty" &&
      this.#now() - this.#lastEmitAt >= this.#maxDelayMs
    ) {
      this.flush(); // idle until now: nothing to batch it with
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#maxDelayMs);
    }
  }
}
