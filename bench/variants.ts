/**
 * Flightdeck against itself in another setup (`deno task bench
 * --only=redis`): the same scenarios (output throughput to one dashboard,
 * sparse-line latency) through one server with its default Deno KV and
 * through the same server with `FLIGHTDECK_REDIS_URL` pointing at a real
 * redis-server the bench starts on 127.0.0.1 for each run. Variants
 * alternate run by run (a batch is one run of each); figures are medians
 * over the batches, and the difference of the medians is what the other
 * setup adds.
 *
 * A variant is anything that gives a Flightdeck server an environment for
 * one run and cleans up after it, so a setup of several servers (a
 * cluster) is one more variant here.
 *
 * @module
 */
import { RedisServer } from "../tests/redis_server.ts";
import { checkNotStopping, onKillAll } from "./proc.ts";
import { percentile, type Spread, spread } from "./stats.ts";
import { lineLatencyRun, streamRun } from "./streams.ts";
import { roundTripRun } from "./interactive.ts";

/** What one run of a variant needs: the server's environment, and cleanup. */
export interface VariantRun extends AsyncDisposable {
  env: Record<string, string>;
}

/** One setup of Flightdeck to compare. */
export interface Variant {
  /** For tables. */
  label: string;
  /** Prefix of its figures (e.g. `redis_`). */
  prefix: string;
  /** Set up what one run needs (started fresh for each run). */
  setUp(): Promise<VariantRun>;
}

/** Flightdeck as it starts by default: one server, file-backed Deno KV. */
export const KV_VARIANT: Variant = {
  label: "Deno KV",
  prefix: "redis_kv_",
  setUp: () =>
    Promise.resolve({
      env: {},
      [Symbol.asyncDispose]: () => Promise.resolve(),
    }),
};

/**
 * One server storing in a real redis-server (started for the run, memory
 * only: no append-only file, no snapshots, so the figure is the hop to
 * Redis, not its disk).
 */
export const REDIS_VARIANT: Variant = {
  label: "Redis",
  prefix: "redis_",
  async setUp() {
    checkNotStopping();
    const redis = await RedisServer.start();
    const forget = onKillAll(() => redis.close());
    return {
      env: { FLIGHTDECK_REDIS_URL: redis.url },
      async [Symbol.asyncDispose]() {
        forget();
        await redis.close();
      },
    };
  },
};

/** Sizes of a variant comparison. */
export interface VariantSizes {
  reps: number;
  mib: number;
  ticks: number;
  tickMs: number;
  roundTrips: number;
}

/** One measure of every variant: its per-batch values. */
export interface VariantMeasure {
  measure: string;
  /** Figure name after the variant's prefix, e.g. `throughput_1_mbps`. */
  name: string;
  unit: string;
  values: Map<Variant, number[]>;
}

/**
 * Run `variants` alternating, `reps` batches: `mib` MiB to one dashboard,
 * `ticks` sparse lines `tickMs` apart (live output is broadcast before it
 * is stored, so this is the hop's effect on the live view), and
 * `roundTrips` command round trips (`true`, request → completed: each
 * passes several storage writes). `log` gets one line per run.
 */
export async function compareVariants(
  variants: Variant[],
  sizes: VariantSizes,
  log: (line: string) => void,
): Promise<VariantMeasure[]> {
  const throughput = new Map<Variant, number[]>();
  const p50 = new Map<Variant, number[]>();
  const p99 = new Map<Variant, number[]>();
  const rtt50 = new Map<Variant, number[]>();
  const rtt99 = new Map<Variant, number[]>();
  for (const v of variants) {
    for (const map of [throughput, p50, p99, rtt50, rtt99]) map.set(v, []);
  }
  for (let rep = 0; rep < sizes.reps; rep++) {
    for (const v of variants) {
      await using run = await v.setUp();
      const result = await streamRun("flightdeck", 1, sizes.mib, run.env);
      throughput.get(v)!.push(result.mbps);
      log(
        `  ${v.label} throughput #${rep + 1}: ${result.mbps.toFixed(1)} MB/s`,
      );
    }
    for (const v of variants) {
      await using run = await v.setUp();
      const latencies = await lineLatencyRun(
        "flightdeck",
        sizes.ticks,
        sizes.tickMs,
        run.env,
      );
      p50.get(v)!.push(percentile(latencies, 50));
      p99.get(v)!.push(percentile(latencies, 99));
      log(
        `  ${v.label} line latency #${rep + 1}: p50 ${
          percentile(latencies, 50).toFixed(2)
        } ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
      );
    }
    for (const v of variants) {
      await using run = await v.setUp();
      const times = await roundTripRun(sizes.roundTrips, run.env);
      rtt50.get(v)!.push(percentile(times, 50));
      rtt99.get(v)!.push(percentile(times, 99));
      log(
        `  ${v.label} command round trip #${rep + 1}: p50 ${
          percentile(times, 50).toFixed(2)
        } ms, p99 ${percentile(times, 99).toFixed(2)} ms`,
      );
    }
  }
  return [
    {
      measure: `${sizes.mib} MiB to 1 dashboard (MB/s)`,
      name: "throughput_1_mbps",
      unit: "MB/s",
      values: throughput,
    },
    {
      measure:
        `sparse line printed → received, p50 of ${sizes.ticks} lines ${sizes.tickMs} ms apart (ms)`,
      name: "line_latency_p50_ms",
      unit: "ms",
      values: p50,
    },
    {
      measure: "sparse line printed → received, p99 (ms)",
      name: "line_latency_p99_ms",
      unit: "ms",
      values: p99,
    },
    {
      measure:
        `command round trip (\`true\`, request → completed), p50 of ${sizes.roundTrips} (ms)`,
      name: "command_rtt_p50_ms",
      unit: "ms",
      values: rtt50,
    },
    {
      measure: "command round trip, p99 (ms)",
      name: "command_rtt_p99_ms",
      unit: "ms",
      values: rtt99,
    },
  ];
}

/** The median of each variant's values. */
export function medians(measure: VariantMeasure): Map<Variant, Spread> {
  const out = new Map<Variant, Spread>();
  for (const [v, values] of measure.values) out.set(v, spread(values));
  return out;
}
