// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * `deno task bench [--quick] [--only=a,b]`: Flightdeck against two
 * references in the same run, on 127.0.0.1, every party a process of its
 * own: the real server (`main.ts`, default file-backed KV in a temporary
 * data dir) with a real agent (`agent.ts`) and dashboard client processes
 * (bench/client.ts), against a trivial Deno WebSocket relay
 * (bench/relay_deno.ts) and a Node `ws` relay (bench/relay_node.mjs) fed by
 * bench/producer.ts running the same command. Systems alternate run by run
 * (a batch is one run of each), each started fresh; figures are the median
 * with min–max over the repetitions, ratios are taken per batch. Every
 * chunk is verified (bytes and seq); any loss fails the run and the
 * harness exits 1.
 *
 * Scenarios (`--only=` names): `throughput` (MiB of output to 1 and 10
 * dashboards, CPU and peak memory of server and agent from /proc, the
 * agent's dropped chunks from its log), `latency` (sparse lines, printed →
 * received), `hop` (64 B message through the server), `rtt` (command round
 * trip), `idle` (idle dashboards: memory per connection, connect time,
 * status fan-out), `browser` (input latency in a Chromium dashboard during
 * an output burst, bench/browser_burst.ts), `compression` (app-level
 * deflate of output frames: cost, and over loopback and throttled links,
 * bench/compression.ts), and in a full run only
 * `echo` (keystroke to echo drawn in Chromium, bench/echo.ts) and
 * `late_join` (opening a session with 100 MiB of history,
 * bench/late_join.ts), which run with an in-process server, `cluster`
 * (one server versus three on one Redis: throughput, and the latency added
 * by the Redis hop, bench/cluster.ts; needs `redis-server`) and `redis`
 * (the same server with its default Deno KV and with
 * `FLIGHTDECK_REDIS_URL` on a redis-server the bench starts: throughput to
 * 1 dashboard, sparse-line latency, command round trip, and what the Redis
 * hop adds, bench/variants.ts; skipped with a note when redis-server is not
 * on PATH). `--quick` runs
 * a reduced set in under 2 minutes. ttyd is measured only if it is on PATH (it is skipped
 * with a note otherwise). Every figure is also printed as
 * `FIGURE name=value`. Environment: `BENCH_REPS`, `BENCH_MIB`,
 * `BENCH_IDLE_CONNS`, `BENCH_LATE_JOIN_MB` (and bench/echo.ts's
 * `BENCH_ECHO_KEYS`) override the sizes.
 *
 * @module
 */
import {
  figureLine,
  formatSpread,
  percentile,
  ratios,
  type Spread,
  spread,
} from "./stats.ts";
import { killAll, loadAverage, machine } from "./proc.ts";
import { lineLatencyRun, type StreamRun, streamRun } from "./streams.ts";
import { hopRun, roundTripRun } from "./interactive.ts";
import { type IdleRun, idleRun } from "./idle.ts";
import { browserBurstRun } from "./browser_burst.ts";
import { benchEcho } from "./echo.ts";
import { compressionFigures, LINKS } from "./compression.ts";
import { lateJoin } from "./late_join.ts";
import { clusterBench } from "./cluster.ts";
import { hasCommand, REFERENCES, type SystemName } from "./systems.ts";
import {
  compareVariants,
  KV_VARIANT,
  medians,
  REDIS_VARIANT,
} from "./variants.ts";

const QUICK = Deno.args.includes("--quick");
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7)
  .split(",");
const envNumber = (name: string, fallback: number) =>
  Number(Deno.env.get(name) ?? fallback);

/** Sizes of a full and a quick run. */
const SIZES = {
  reps: envNumber("BENCH_REPS", QUICK ? 1 : 3),
  mib: envNumber("BENCH_MIB", QUICK ? 16 : 100),
  ticks: QUICK ? 50 : 200,
  tickMs: 20,
  hops: QUICK ? 100 : 500,
  roundTrips: QUICK ? 10 : 30,
  idleConns: envNumber("BENCH_IDLE_CONNS", QUICK ? 200 : 1000),
  browserMb: QUICK ? 20 : 200,
};
/** The whole run is stopped after this long. */
const DEADLINE_MS = (QUICK ? 4 : 40) * 60_000;

/** Scenarios left out of a run without `--only` naming them. */
const FULL_ONLY = ["echo", "late_join", "cluster", "redis"];
const wanted = (name: string) =>
  only ? only.includes(name) : !(QUICK && FULL_ONLY.includes(name));

const references: SystemName[] = REFERENCES.filter((name) => {
  if (name !== "node_relay" || hasCommand("node")) return true;
  console.log("note: node is not on PATH; the Node ws relay is skipped");
  return false;
});
const systems: SystemName[] = ["flightdeck", ...references];
const LABEL: Record<SystemName, string> = {
  flightdeck: "Flightdeck",
  deno_relay: "Deno relay",
  node_relay: "Node ws relay",
};
/** Suffix of a reference's figures. */
const SUFFIX: Record<SystemName, string> = {
  flightdeck: "",
  deno_relay: "_relay",
  node_relay: "_node",
};

/** Markdown rows: measure, then one cell per system, then ratios. */
const rows: string[][] = [];
let failed = false;

function figure(name: string, value: number | string): void {
  console.log(figureLine(name, value));
}

/** Median of per-batch ratios `flightdeck / reference`. */
function ratioSpread(
  values: Record<SystemName, number[]>,
  reference: SystemName,
): Spread | null {
  const a = values.flightdeck;
  const b = values[reference];
  if (!a?.length || !b?.length || a.length !== b.length) return null;
  return spread(ratios(a, b));
}

/**
 * One row and its figures: `values` per system (one per batch), the
 * figure name `name` (references get `_relay`/`_node`), ratios to each
 * reference as `<name>_ratio_relay`/`_node`; `ratioName` overrides the
 * ratio's base name.
 */
function report(
  measure: string,
  name: string,
  unit: string,
  values: Record<SystemName, number[]>,
  ratioName = name.replace(/_(mbps|ms|mib)$/, ""),
): void {
  const cells = systems.map((s) =>
    values[s]?.length ? formatSpread(spread(values[s]), unit) : "–"
  );
  for (const s of systems) {
    if (values[s]?.length) {
      figure(`${name}${SUFFIX[s]}`, spread(values[s]).median);
    }
  }
  const ratioCells: string[] = [];
  for (const ref of references) {
    const r = ratioSpread(values, ref);
    if (!r) continue;
    figure(`${ratioName}_ratio${SUFFIX[ref]}`, r.median);
    ratioCells.push(`${formatSpread(r)}× ${LABEL[ref]}`);
  }
  rows.push([measure, ...cells, ratioCells.join(", ") || "–"]);
}

async function scenario(name: string, run: () => Promise<void>) {
  if (!wanted(name)) return;
  console.log(`\n## ${name} (load ${loadAverage()})`);
  const t0 = performance.now();
  try {
    await run();
  } catch (error) {
    failed = true;
    console.log(
      `RUN FAILED (${name}): ${error instanceof Error ? error.stack : error}`,
    );
  }
  console.log(`(${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

/** Per system, `reps` results of `run`, systems alternating in each batch. */
async function batches<T>(
  reps: number,
  run: (system: SystemName) => Promise<T>,
  subset: SystemName[] = systems,
): Promise<Record<SystemName, T[]>> {
  const out = {} as Record<SystemName, T[]>;
  for (const s of subset) out[s] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const s of subset) {
      const result = await run(s);
      out[s].push(result);
      console.log(`  ${LABEL[s]} #${rep + 1}: ${JSON.stringify(result)}`);
    }
  }
  return out;
}

function pick<T>(
  results: Record<SystemName, T[]>,
  f: (t: T) => number,
): Record<SystemName, number[]> {
  const out = {} as Record<SystemName, number[]>;
  for (const [s, list] of Object.entries(results)) {
    out[s as SystemName] = list.map(f);
  }
  return out;
}

async function throughput(dashboards: number): Promise<void> {
  const results = await batches(
    SIZES.reps,
    (s) => streamRun(s, dashboards, SIZES.mib),
  );
  const aggregate = pick(results, (r: StreamRun) => r.aggregateMbps);
  report(
    dashboards === 1
      ? `${SIZES.mib} MiB to 1 dashboard (MB/s)`
      : `${SIZES.mib} MiB to ${dashboards} dashboards, aggregate (MB/s)`,
    `throughput_${dashboards}_mbps`,
    "MB/s",
    aggregate,
  );
  const mib = (b: number) => b / 1024 / 1024;
  const suffix = dashboards === 1 ? "" : `_${dashboards}`;
  report(
    `peak RSS of the server (relay) per burst, ${dashboards} dashboard(s)`,
    `server_peak_rss${suffix}_mib`,
    "MiB",
    pick(results, (r) => mib(r.serverPeakRssBytes)),
  );
  report(
    `peak RSS of the agent (producer) per burst, ${dashboards} dashboard(s)`,
    `agent_peak_rss${suffix}_mib`,
    "MiB",
    pick(results, (r) => mib(r.agentPeakRssBytes)),
  );
  // The peaks above are absolute (`VmHWM` since the process started); the
  // growth is the peak less the resident memory just before the burst.
  report(
    `growth of the server's RSS over idle per burst, ${dashboards} dashboard(s)`,
    `server_rss_growth${suffix}_mib`,
    "MiB",
    pick(results, (r) => mib(r.serverPeakRssBytes - r.serverIdleRssBytes)),
  );
  const agentGrowth = pick(
    results,
    (r) => mib(r.agentPeakRssBytes - r.agentIdleRssBytes),
  );
  report(
    `growth of the agent's RSS over idle per burst, ${dashboards} dashboard(s)`,
    `agent_rss_growth${suffix}_mib`,
    "MiB",
    { flightdeck: agentGrowth.flightdeck } as Record<SystemName, number[]>,
  );
  report(
    `CPU of the server (relay) per MiB delivered, ${dashboards} dashboard(s) (ms)`,
    `server_cpu${suffix}_ms_per_mib`,
    "ms",
    pick(
      results,
      (r) => r.serverCpuSeconds * 1000 / (mib(r.bytes) * dashboards),
    ),
  );
  report(
    `CPU of the agent (producer) per MiB, ${dashboards} dashboard(s) (ms)`,
    `agent_cpu${suffix}_ms_per_mib`,
    "ms",
    pick(results, (r) => r.agentCpuSeconds * 1000 / mib(r.bytes)),
  );
  const drops = results.flightdeck.reduce((n, r) => n + (r.agentDrops ?? 0), 0);
  if (dashboards === 1) figure("agent_buffer_drops", drops);
  else figure(`agent_buffer_drops${suffix}`, drops);
  rows.push([
    `agent: chunks dropped unacknowledged, ${dashboards} dashboard(s), all runs`,
    String(drops),
    ...references.map(() => "–"),
    "–",
  ]);
}

async function main(): Promise<void> {
  console.log(`# deno task bench${QUICK ? " --quick" : ""}`);
  console.log(`machine: ${machine()}`);
  console.log(`sizes: ${JSON.stringify(SIZES)}`);
  if (!hasCommand("ttyd")) {
    console.log("note: ttyd is not on PATH; its reference is skipped");
  }
  await scenario("throughput", async () => {
    await throughput(1);
    await throughput(10);
  });
  await scenario("latency", async () => {
    const results = await batches(
      SIZES.reps,
      (s) => lineLatencyRun(s, SIZES.ticks, SIZES.tickMs),
    );
    const pooled = (p: number) => {
      const out = {} as Record<SystemName, number[]>;
      for (const s of systems) out[s] = results[s].map((l) => percentile(l, p));
      return out;
    };
    report(
      `sparse line printed → received, p50 of ${SIZES.ticks} lines ${SIZES.tickMs} ms apart (ms)`,
      "line_latency_p50_ms",
      "ms",
      pooled(50),
    );
    report(
      "sparse line printed → received, p99 (ms)",
      "line_latency_p99_ms",
      "ms",
      pooled(99),
    );
  });
  await scenario("hop", async () => {
    const results = await batches(SIZES.reps, (s) => hopRun(s, SIZES.hops));
    const at = (p: number) => pick(results, (l: number[]) => percentile(l, p));
    report(
      `64 B hop through the server, p50 of ${SIZES.hops} (ms)`,
      "hop_64b_p50_ms",
      "ms",
      at(50),
    );
    report("64 B hop, p99 (ms)", "hop_64b_p99_ms", "ms", at(99));
    // Where the hop's time goes: the same without the connection guard, and
    // without it on an in-memory KV (one run of each per batch, after the
    // batches above).
    const variants = [
      ["guard_off", { FLIGHTDECK_CONN_GUARD: "off" }],
      ["guard_handoff", { FLIGHTDECK_CONN_GUARD: "handoff" }],
      ["guard_off_memory_kv", {
        FLIGHTDECK_CONN_GUARD: "off",
        FLIGHTDECK_KV: ":memory:",
      }],
    ] as const;
    const p50s: number[][] = variants.map(() => []);
    for (let rep = 0; rep < SIZES.reps; rep++) {
      for (const [i, [, env]] of variants.entries()) {
        p50s[i].push(
          percentile(await hopRun("flightdeck", SIZES.hops, env), 50),
        );
      }
    }
    const parts = variants.map(([name], i) => {
      const p50 = spread(p50s[i]);
      figure(`hop_64b_p50_ms_${name}`, p50.median);
      return formatSpread(p50, "ms");
    });
    rows.push([
      "64 B hop p50, Flightdeck with FLIGHTDECK_CONN_GUARD=off; =handoff; off with FLIGHTDECK_KV=:memory:",
      parts.join("; "),
      ...references.map(() => "–"),
      "–",
    ]);
  });
  await scenario("rtt", async () => {
    const times = await roundTripRun(SIZES.roundTrips);
    const p50 = percentile(times, 50);
    const p99 = percentile(times, 99);
    figure("command_rtt_p50_ms", p50);
    figure("command_rtt_p99_ms", p99);
    rows.push([
      `command round trip (\`true\`, request → completed), p50 / p99 of ${SIZES.roundTrips} (ms)`,
      `${p50.toFixed(1)} / ${p99.toFixed(1)} ms`,
      ...references.map(() => "–"),
      "–",
    ]);
  });
  await scenario("idle", async () => {
    const results = await batches(
      SIZES.reps,
      (s) => idleRun(s, SIZES.idleConns),
    );
    const n = SIZES.idleConns;
    report(
      `${n} idle dashboards: server memory per connection (KiB)`,
      "idle_kib_per_conn",
      "KiB",
      pick(results, (r: IdleRun) => r.kibPerConn),
      "idle_kib_per_conn",
    );
    report(
      `${n} idle dashboards: connect time per socket, p50 (ms)`,
      "idle_connect_p50_ms",
      "ms",
      pick(results, (r) => r.connectP50Ms),
    );
    report(
      `${n} idle dashboards: all connected (ms)`,
      "idle_connect_all_ms",
      "ms",
      pick(results, (r) => r.connectAllMs),
    );
    report(
      `${n} idle dashboards: status change → every dashboard has it (ms)`,
      "idle_fanout_ms",
      "ms",
      pick(results, (r) => r.fanoutMs),
    );
    // Where Flightdeck's memory goes: the same without the connection guard
    // (one run per batch, after the batches above).
    const direct: IdleRun[] = [];
    for (let rep = 0; rep < SIZES.reps; rep++) {
      direct.push(
        await idleRun("flightdeck", n, { FLIGHTDECK_CONN_GUARD: "off" }),
      );
      console.log(
        `  Flightdeck, guard off #${rep + 1}: ${JSON.stringify(direct.at(-1))}`,
      );
    }
    const kib = spread(direct.map((r) => r.kibPerConn));
    const fanout = spread(direct.map((r) => r.fanoutMs));
    figure("idle_kib_per_conn_guard_off", kib.median);
    figure("idle_fanout_ms_guard_off", fanout.median);
    rows.push([
      `${n} idle dashboards, Flightdeck with FLIGHTDECK_CONN_GUARD=off: memory per connection; fan-out`,
      `${formatSpread(kib, "KiB")}; ${formatSpread(fanout, "ms")}`,
      ...references.map(() => "–"),
      "–",
    ]);
    // And with the guard's handoff instead of its relay.
    const handoff: IdleRun[] = [];
    for (let rep = 0; rep < SIZES.reps; rep++) {
      handoff.push(
        await idleRun("flightdeck", n, { FLIGHTDECK_CONN_GUARD: "handoff" }),
      );
      console.log(
        `  Flightdeck, guard handoff #${rep + 1}: ${
          JSON.stringify(handoff.at(-1))
        }`,
      );
    }
    const handoffKib = spread(handoff.map((r) => r.kibPerConn));
    const handoffFanout = spread(handoff.map((r) => r.fanoutMs));
    figure("idle_kib_per_conn_guard_handoff", handoffKib.median);
    figure("idle_fanout_ms_guard_handoff", handoffFanout.median);
    rows.push([
      `${n} idle dashboards, Flightdeck with FLIGHTDECK_CONN_GUARD=handoff: memory per connection; fan-out`,
      `${formatSpread(handoffKib, "KiB")}; ${
        formatSpread(handoffFanout, "ms")
      }`,
      ...references.map(() => "–"),
      "–",
    ]);
  });
  await scenario("browser", async () => {
    const result = await browserBurstRun(SIZES.browserMb);
    figure("browser_input_p50_ms", result.inputP50Ms);
    figure("browser_input_p99_ms", result.inputP99Ms);
    figure("browser_burst_seconds", result.seconds);
    rows.push([
      `Chromium dashboard during a ${SIZES.browserMb} MB burst: input latency p50 / p99 (ms), ${result.events} key events`,
      `${result.inputP50Ms.toFixed(1)} / ${
        result.inputP99Ms.toFixed(1)
      } ms (burst ${result.seconds.toFixed(1)} s)`,
      ...references.map(() => "–"),
      "–",
    ]);
  });
  await scenario("compression", async () => {
    const figures = new Map(await compressionFigures(QUICK));
    for (const [name, value] of figures) figure(name, value);
    const f = (name: string) => figures.get(name)!;
    for (const k of [16, 128]) {
      rows.push([
        `deflate-raw per ${k} KiB frame (CompressionStream): size ratio; compress / inflate ms per MiB`,
        `${f(`deflate_${k}k_ratio`).toFixed(3)}; ${
          f(`deflate_${k}k_ms_per_mib`).toFixed(1)
        } / ${f(`inflate_${k}k_ms_per_mib`).toFixed(1)} ms`,
        ...references.map(() => "–"),
        "–",
      ]);
    }
    for (const [link] of LINKS) {
      rows.push([
        `output over ${link} (128 KiB frames): plain / deflated (MB/s)`,
        `${f(`link_${link}_plain_mbps`).toFixed(2)} / ${
          f(`link_${link}_deflate_mbps`).toFixed(2)
        } MB/s (${f(`link_${link}_deflate_speedup`).toFixed(2)}×)`,
        ...references.map(() => "–"),
        "–",
      ]);
    }
  });
  await scenario("echo", async () => {
    for (const [measure, value] of await benchEcho()) {
      rows.push([measure, value, ...references.map(() => "–"), "–"]);
    }
  });
  await scenario("late_join", async () => {
    for (
      const [measure, value] of await lateJoin(
        envNumber("BENCH_LATE_JOIN_MB", 100),
      )
    ) {
      rows.push([measure, value, ...references.map(() => "–"), "–"]);
    }
  });
  await scenario("cluster", async () => {
    if (!hasCommand("redis-server")) {
      console.log("note: redis-server is not on PATH; cluster is skipped");
      return;
    }
    for (const [measure, value] of await clusterBench()) {
      rows.push([measure, value, ...references.map(() => "–"), "–"]);
    }
  });

  await scenario("redis", async () => {
    if (!hasCommand("redis-server")) {
      console.log("note: redis-server is not on PATH; skipped");
      return;
    }
    const variants = [KV_VARIANT, REDIS_VARIANT];
    const measures = await compareVariants(variants, {
      reps: SIZES.reps,
      mib: SIZES.mib,
      ticks: SIZES.ticks,
      tickMs: SIZES.tickMs,
      roundTrips: SIZES.roundTrips,
    }, (line) => console.log(line));
    for (const m of measures) {
      const at = medians(m);
      for (const v of variants) {
        figure(`${v.prefix}${m.name}`, at.get(v)!.median);
      }
      const kv = at.get(KV_VARIANT)!.median;
      const redis = at.get(REDIS_VARIANT)!.median;
      // Throughput: Redis as a share of KV; latency: what Redis adds.
      const compared = m.unit === "MB/s"
        ? `${(redis / kv).toFixed(2)}× Deno KV`
        : `${redis - kv >= 0 ? "+" : ""}${(redis - kv).toFixed(2)} ms`;
      if (m.unit === "MB/s") {
        figure(`redis_${m.name.replace(/_mbps$/, "")}_ratio_kv`, redis / kv);
      } else {
        figure(`redis_${m.name.replace(/_ms$/, "")}_added_ms`, redis - kv);
      }
      rows.push([
        `${m.measure}: Deno KV / Redis (FLIGHTDECK_REDIS_URL)`,
        variants.map((v) => formatSpread(at.get(v)!, m.unit)).join(" / "),
        ...references.map(() => "–"),
        compared,
      ]);
    }
  });

  console.log(`\nmachine: ${machine()}`);
  console.log(
    `\n| measure | ${systems.map((s) => LABEL[s]).join(" | ")} | ratio |`,
  );
  console.log(`|---|${systems.map(() => "---|").join("")}---|`);
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  if (failed) console.log("\nFAILED: at least one run failed (see above)");
}

const watchdog = setTimeout(async () => {
  console.log(`FAILED: the bench did not finish within ${DEADLINE_MS} ms`);
  await killAll();
  Deno.exit(1);
}, DEADLINE_MS);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    console.log(`STOPPED by ${signal}: processes torn down`);
    await killAll();
    Deno.exit(130);
  });
}
try {
  await main();
} catch (error) {
  failed = true;
  console.log(`FAILED: ${error instanceof Error ? error.stack : error}`);
} finally {
  await killAll();
  clearTimeout(watchdog);
}
Deno.exit(failed ? 1 : 0);
