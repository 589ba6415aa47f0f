/**
 * A {@link Storage} whose output appends wait `delayMs` before committing:
 * the stand-in for a slow store (KV on a remote database) in tests of agent
 * flow control. Enabled only by `FLIGHTDECK_TEST_APPEND_DELAY_MS`.
 *
 * @module
 */
import { type OutputMeta, Storage, type StoredChunk } from "./storage.ts";

/** Storage whose every output append commits `delayMs` later. */
export class SlowStorage extends Storage {
  readonly delayMs: number;

  /** @throws {RangeError} When `delayMs` is negative or not a number. */
  constructor(kv: Deno.Kv, delayMs: number) {
    super(kv);
    if (!(delayMs >= 0)) throw new RangeError(`Invalid delayMs "${delayMs}"`);
    this.delayMs = delayMs;
  }

  /** Wait `delayMs`, then append as {@link Storage.appendOutput} does. */
  override async appendOutput(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    meta?: OutputMeta,
    extra: readonly [Deno.KvKey, unknown][] = [],
  ): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    await super.appendOutput(commandId, seq, chunk, meta, extra);
  }
}
