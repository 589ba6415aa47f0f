// deno-lint-ignore-file no-console -- CLI entry point: stdout and stderr are its interface
/**
 * Benchmark harness: `deno task bench`. Starts a real server (in-memory KV)
 * and real agent processes on loopback, and prints latency and throughput.
 * Bounded in count and time; prints a Markdown table for the README.
 */
import {
  AgentProcess,
  outputOf,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "../tests/helpers.ts";

const DASHBOARDS = Number(Deno.env.get("BENCH_DASHBOARDS") ?? 20);
const OUTPUT_MB = Number(Deno.env.get("BENCH_OUTPUT_MB") ?? 10);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 20);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

const rows: [string, string][] = [];
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

await using server = await startTestServer();
const dashboards = await Promise.all(
  Array.from({ length: DASHBOARDS }, () => TestClient.dashboard(server)),
);
const [first] = dashboards;
const agent = await AgentProcess.start(server, "bench-1");
try {
  await waitAgentStatus(first, "bench-1", "online");

  // 1. Command round trip: request -> completed at the requesting dashboard.
  const roundTrips: number[] = [];
  const statusFanout: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const from = first.messages.length;
    const t0 = performance.now();
    first.send(
      "command:request",
      { agentId: "bench-1", command: "true" },
      `rt-${i}`,
    );
    const reply = await first.waitFor(
      (m) => m.type === "command:status" && m.payload.replyTo === `rt-${i}`,
      { from },
    );
    if (reply.type !== "command:status") throw new Error("unexpected");
    const id = reply.payload.command.id;
    await waitFinal(first, id);
    roundTrips.push(performance.now() - t0);
    // agent:status busy -> every dashboard (measured from the request).
    const t1 = performance.now();
    await Promise.all(dashboards.map((d) => waitFinal(d, id)));
    statusFanout.push(performance.now() - t1);
  }
  rows.push([
    `command round trip (request → completed, \`true\`), p50 / p95 of ${ROUNDS}`,
    `${fmt(percentile(roundTrips, 50))} / ${fmt(percentile(roundTrips, 95))}`,
  ]);

  // 2. Output throughput to every dashboard.
  const lines = Math.ceil((OUTPUT_MB * 1024 * 1024) / 100);
  const command = `yes "$(printf '%099d' 0)" | head -n ${lines}`;
  const t0 = performance.now();
  first.send("command:request", { agentId: "bench-1", command }, "tp");
  const reply = await first.waitFor((m) =>
    m.type === "command:status" && m.payload.replyTo === "tp"
  );
  if (reply.type !== "command:status") throw new Error("unexpected");
  const id = reply.payload.command.id;
  await Promise.all(dashboards.map((d) => waitFinal(d, id, 120_000)));
  const elapsed = (performance.now() - t0) / 1000;
  const bytes = outputOf(first, id).text.length;
  const complete = dashboards.every((d) =>
    outputOf(d, id).text.length === bytes
  );
  rows.push([
    `output throughput, ${OUTPUT_MB} MiB to each of ${DASHBOARDS} dashboards (stored in KV)`,
    `${(bytes / 1024 / 1024 / elapsed).toFixed(1)} MiB/s per dashboard, ${
      (DASHBOARDS * bytes / 1024 / 1024 / elapsed).toFixed(0)
    } MiB/s delivered in all (${complete ? "complete" : "INCOMPLETE"})`,
  ]);

  // 3. Time to offline after SIGKILL.
  const t2 = performance.now();
  await agent.kill("SIGKILL");
  await Promise.all(
    dashboards.map((d) => waitAgentStatus(d, "bench-1", "offline")),
  );
  rows.push([
    "agent killed (SIGKILL) → offline at every dashboard",
    fmt(performance.now() - t2),
  ]);
  rows.push([
    "server RSS after the run",
    `${
      (Deno.memoryUsage().rss / 1024 / 1024).toFixed(0)
    } MiB (server and clients share the process)`,
  ]);
} finally {
  await agent.kill("SIGKILL").catch(() => {});
  await Promise.all(dashboards.map((d) => d.close()));
}

console.log(`\n| measure | result |\n|---|---|`);
for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
