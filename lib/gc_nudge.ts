/**
 * A nudge to V8's garbage collector after every so many bytes of output a
 * process let go of (the server once they are stored, the agent once they
 * are acknowledged).
 *
 * Why: output chunks are large strings that live until they are stored (or
 * acknowledged), a few milliseconds, long enough to survive a young
 * generation collection; V8 then moves them to the old generation, which it
 * collects only when that has grown to several times what is live. So under
 * sustained output the heap grows by tens of MiB of dead chunks before the
 * first full collection. Starting a full collection (concurrent, on V8's
 * helper threads: `execution: "async"`, which returns at once) every
 * {@link GC_NUDGE_BYTES} bounds that. Measured on the bench's 100 MiB burst
 * to one dashboard (`deno task bench --only=throughput`, 3 runs each): peak
 * RSS of the server 186-191 -> 141-142 MiB, of the agent 125-146 -> 104-108
 * MiB; lib/server/output_log_heap_test.ts: heap growth of a 96 MiB flood
 * through the output log 55-59 -> 19 MiB. The price is the marking of what
 * is live at each nudge, on V8's helper threads: about 0.5-1 ms of CPU per
 * MiB stored with a 15-35 MiB live heap (the same flood, `/usr/bin/time`);
 * in the bench, alternating runs with and without it on a loaded machine
 * showed up to 1 ms per MiB more for the server with one dashboard and up
 * to 3 ms per MiB of output with ten, within that machine's noise (runs of
 * the same code differed by 4 ms per MiB). A nudge every 32 MiB saved only
 * 10-30 MiB.
 *
 * Every 8 MiB (it was 16): on the same burst (bench/streams.ts `streamRun`,
 * nudges every 16, 8 and 4 MiB alternated, 3 runs each, load average
 * 8-23) the server peaked at 131-137, 125-126 and 120-122 MiB for 1.65-1.76,
 * 1.82-1.97 and 1.99-2.20 s of CPU per 100 MiB; the agent (with its 1 MiB
 * young generation, lib/v8_flags.ts) at 94-96, 84-86 and 81-84 MiB for
 * 0.83-0.98, 0.90-1.06 and 1.12-1.21 s. 8 MiB takes most of what 4 saves
 * for half its CPU.
 *
 * It needs `--expose-gc` (lib/v8_flags.ts, which `deno task start` and
 * `deno task agent` pass); without it (tests, a plain `deno run`) the nudge
 * does nothing.
 *
 * @module
 */

/** Bytes let go of between two nudges: 8 MiB. */
export const GC_NUDGE_BYTES = 8 * 1024 * 1024;

/** V8's `gc()` with options, as `--expose-gc` exposes it. */
type ExposedGc = (
  options?: { type?: string; execution?: string; flavor?: string },
) => void;

/** Start a concurrent full collection, when `gc` is exposed. */
export function startFullGc(): void {
  const gc = (globalThis as { gc?: ExposedGc }).gc;
  gc?.({ type: "major", execution: "async" });
}

/**
 * Collect everything V8 can, at once, and give the memory back: a
 * synchronous full collection of the "last resort" flavor, which compacts
 * the old generation and shrinks the young one. Returns when done (on the
 * server's 11 MiB heap, 26-175 ms measured on a loaded 2-core machine);
 * does nothing without `--expose-gc`.
 *
 * The server and the agent call it once, when they have started: loading
 * and evaluating their modules leaves garbage and a grown young generation
 * that V8's own memory reducer gives back only after about 30 s of quiet.
 * Measured on an idle server (`deno task start`): RSS 91 -> 81 MiB, V8
 * heap 21 -> 12 MiB.
 */
export function reduceMemory(): void {
  const gc = (globalThis as { gc?: ExposedGc }).gc;
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
}

/**
 * A counter of bytes let go of that calls `collect` once every `everyBytes`
 * (default {@link GC_NUDGE_BYTES}, {@link startFullGc}).
 */
export function gcNudger(
  everyBytes: number = GC_NUDGE_BYTES,
  collect: () => void = startFullGc,
): (bytes: number) => void {
  let counted = 0;
  return (bytes) => {
    counted += bytes;
    if (counted < everyBytes) return;
    counted = 0;
    collect();
  };
}
