/**
 * The byte and `seq` verifier of the benchmark harness: every dashboard
 * client checks each chunk it receives against the stream it must be, so
 * any lost, duplicated, reordered or corrupted chunk fails the run.
 *
 * @module
 */

/** Why a stream failed verification (the first problem found). */
export class StreamError extends Error {
  override name = "StreamError";
}

/**
 * Checks one stream: chunks numbered from 1 with no gap and no repeat
 * (`seq`), whose data joined in order is `unit` repeated, `totalBytes` long
 * in all (`unit` is ASCII, so characters are bytes).
 *
 * @example
 * ```ts
 * const v = new StreamVerifier("0".repeat(99) + "\n", 200);
 * v.chunk(1, "0".repeat(99) + "\n0");
 * v.chunk(2, "0".repeat(98) + "\n");
 * v.complete; // true
 * ```
 */
export class StreamVerifier {
  readonly unit: string;
  readonly totalBytes: number;
  /** Bytes received and checked so far. */
  bytes = 0;
  /** Chunks received so far. */
  chunks = 0;
  #expectedSeq = 1;
  /** `unit` repeated, long enough to compare one chunk by slicing. */
  #pattern: string;

  /**
   * @throws {RangeError} When `unit` is empty or not ASCII, or `totalBytes`
   * is not a whole number.
   */
  constructor(unit: string, totalBytes: number) {
    // deno-lint-ignore no-control-regex -- ASCII is 0x00..0x7f
    if (unit.length === 0 || /[^\x00-\x7f]/.test(unit)) {
      throw new RangeError(`Invalid unit "${unit.slice(0, 20)}"`);
    }
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) {
      throw new RangeError(`Invalid totalBytes "${totalBytes}"`);
    }
    this.unit = unit;
    this.totalBytes = totalBytes;
    this.#pattern = unit.repeat(Math.ceil((1 << 20) / unit.length) + 1);
  }

  /** Whether every byte arrived. */
  get complete(): boolean {
    return this.bytes === this.totalBytes;
  }

  /**
   * Check chunk `seq` with `data`.
   *
   * @throws {StreamError} On a lost chunk (seq ahead), a duplicate or
   * reordered one (seq behind), data that differs from the stream, or more
   * bytes than `totalBytes`.
   */
  chunk(seq: number, data: string): void {
    if (seq !== this.#expectedSeq) {
      throw new StreamError(
        seq > this.#expectedSeq
          ? `Lost chunk: seq ${this.#expectedSeq} missing, got ${seq}`
          : `Duplicate or reordered chunk: seq ${seq} after ${
            this.#expectedSeq - 1
          }`,
      );
    }
    if (this.bytes + data.length > this.totalBytes) {
      throw new StreamError(
        `Too many bytes: ${this.bytes + data.length} of ${this.totalBytes}`,
      );
    }
    const n = this.unit.length;
    let at = 0;
    while (at < data.length) {
      const offset = (this.bytes + at) % n;
      const take = Math.min(data.length - at, this.#pattern.length - n);
      if (
        data.slice(at, at + take) !== this.#pattern.slice(offset, offset + take)
      ) {
        throw new StreamError(
          `Corrupt data in seq ${seq} at byte ${this.bytes + at}: ${
            JSON.stringify(data.slice(at, at + 24))
          }`,
        );
      }
      at += take;
    }
    this.bytes += data.length;
    this.chunks++;
    this.#expectedSeq++;
  }
}
