/**
 * V8 flags the server (`main.ts`) and the agent (`agent.ts`) run with: the
 * `deno task start` and `deno task agent` tasks in deno.json carry the same
 * (lib/v8_flags_test.ts checks), and so do the tests' and the bench's
 * spawners.
 *
 * `--max-semi-space-size=4` (MiB) caps V8's young generation. Under
 * sustained output both processes allocate short-lived strings fast, and
 * V8 otherwise lets the young generation grow to its default maximum,
 * several times that, which shows up as resident memory held through the
 * burst. Measured with `BENCH_MIB=100 deno task bench --quick
 * --only=throughput` (one dashboard): peak RSS of the agent 214 -> 148 MiB,
 * of the server 182 -> 167 MiB, throughput unchanged within the noise; a
 * cap of 1 MiB saved a little more and halved the throughput in that run.
 *
 * The agent runs with a cap of 1 MiB: the server, not the agent, sets the
 * pace of a burst. Measured on the bench's 100 MiB burst to one
 * dashboard (bench/streams.ts `streamRun`, 3 runs each, alternated, GC
 * nudge every 4 MiB, a loaded 2-core machine): peak RSS of the agent
 * 88-91 -> 79-82 MiB, its CPU and the throughput unchanged within the
 * noise (1.00-1.19 against 0.99-1.21 s per 100 MiB);
 * lib/agent/outbox_heap_test.ts: heap growth of a 96 MiB flood through
 * the agent's output path 27 -> 21 MiB (with the nudge every 8 MiB: 14).
 * A session's headless terminal costs a little more with it: 32 MiB of
 * colored lines written to lib/agent/screen.ts took 710-720 ms of CPU
 * against 660-680 ms with 4 MiB.
 *
 * `--expose-gc` lets lib/gc_nudge.ts start a concurrent full collection
 * after every 8 MiB of output the process let go of (stored by the
 * server, acknowledged to the agent): chunks live a few milliseconds, long
 * enough to reach the old generation, which V8 otherwise collects only
 * once it has grown several times over; and it lets both give back what
 * start-up left behind (`reduceMemory`).
 *
 * @module
 */

/** The server's flags, as `deno run` arguments. */
export const V8_FLAG_ARGS: readonly string[] = [
  "--v8-flags=--max-semi-space-size=4,--expose-gc",
];

/** The agent's flags, as `deno run` arguments. */
export const V8_AGENT_FLAG_ARGS: readonly string[] = [
  "--v8-flags=--max-semi-space-size=1,--expose-gc",
];
