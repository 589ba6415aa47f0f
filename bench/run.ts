// deno-lint-ignore-file no-console -- CLI entry point: stdout and stderr are its interface
/**
 * Benchmark harness: `deno task bench`. Starts a real server (in-memory KV)
 * and real agent processes on loopback, and prints latency and throughput,
 * once with the connection guard on and once off (`BENCH_GUARD=on|off|both`,
 * default both), side by side; then keystroke to echo in a Chromium
 * dashboard (bench/echo.ts; `BENCH_ECHO_KEYS=0` skips it), and the late
 * joiner bench (bench/late_join.ts, `BENCH_LATE_JOIN_MB` MiB of session
 * history, default 100, 0 skips it).
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
import { benchEcho } from "./echo.ts";
import { lateJoin } from "./late_join.ts";

const DASHBOARDS = Number(Deno.env.get("BENCH_DASHBOARDS") ?? 20);
/** MiB of session history for the late joiner bench (0 skips it). */
const LATE_JOIN_MB = Number(Deno.env.get("BENCH_LATE_JOIN_MB") ?? 100);
const OUTPUT_MB = Number(Deno.env.get("BENCH_OUTPUT_MB") ?? 10);
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 20);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/**
 * User + system CPU seconds of this process, all threads (Linux
 * /proc/self/stat, in clock ticks of 1/100 s), or NaN elsewhere. Less
 * sensitive than wall-clock figures to other load on the machine.
 */
function cpuSeconds(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * One pass over every measure, with the connection guard on or off (same
 * process, same machine state), so the guard's cost shows side by side.
 */
async function measure(
  connectionGuard: boolean,
): Promise<[string, string][]> {
  const rows: [string, string][] = [];
  const agentId = `bench-${connectionGuard ? "guard" : "direct"}`;
  await using server = await startTestServer({ connectionGuard });
  const dashboards = await Promise.all(
    Array.from({ length: DASHBOARDS }, () => TestClient.dashboard(server)),
  );
  const [first] = dashboards;
  const agent = await AgentProcess.start(server, agentId);
  try {
    await waitAgentStatus(first, agentId, "online");

    // 1. Command round trip: request -> completed at the requesting dashboard.
    const roundTrips: number[] = [];
    const statusFanout: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const from = first.messages.length;
      const t0 = performance.now();
      first.send(
        "command:request",
        { agentId: agentId, command: "true" },
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
    const cpu0 = cpuSeconds();
    const t0 = performance.now();
    first.send("command:request", { agentId: agentId, command }, "tp");
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
    const cpu = cpuSeconds() - cpu0;
    rows.push([
      "CPU time of the server process (with its clients and the guard's thread) per MiB delivered, during the throughput measure",
      Number.isNaN(cpu)
        ? "n/a"
        : `${
          (cpu * 1000 / (DASHBOARDS * bytes / 1024 / 1024)).toFixed(2)
        } ms/MiB (${cpu.toFixed(2)} s in all)`,
    ]);

    // 3. Plain HTTP: requests on one keep-alive connection, and requests
    // each on a new TCP connection (where the guard adds a connect).
    const REQUESTS = 1000;
    let t3 = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      const res = await fetch(`${server.url}/api/health`);
      await res.arrayBuffer();
    }
    const keepAlive = REQUESTS / ((performance.now() - t3) / 1000);
    const { port } = new URL(server.url);
    const head = new TextEncoder().encode(
      `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    const buf = new Uint8Array(4096);
    t3 = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(port),
      });
      await conn.write(head);
      while (await conn.read(buf) !== null) {
        // Read to the end: the server closes after the response.
      }
      conn.close();
    }
    const fresh = REQUESTS / ((performance.now() - t3) / 1000);
    rows.push([
      `GET /api/health, ${REQUESTS} sequential: keep-alive / new connection each`,
      `${keepAlive.toFixed(0)} / ${fresh.toFixed(0)} req/s`,
    ]);

    // 4. Time to offline after SIGKILL.
    const t2 = performance.now();
    await agent.kill("SIGKILL");
    await Promise.all(
      dashboards.map((d) => waitAgentStatus(d, agentId, "offline")),
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
  return rows;
}

const MODES = (Deno.env.get("BENCH_GUARD") ?? "both") === "both"
  ? [true, false]
  : [Deno.env.get("BENCH_GUARD") !== "off"];
const results = [];
for (const guard of MODES) results.push(await measure(guard));
const label = (guard: boolean) => guard ? "guard on" : "guard off (direct)";
console.log(
  `\n| measure | ${MODES.map(label).join(" | ")} |\n|---|${
    MODES.map(() => "---|").join("")
  }`,
);
for (let i = 0; i < results[0].length; i++) {
  console.log(
    `| ${results[0][i][0]} | ${results.map((r) => r[i][1]).join(" | ")} |`,
  );
}

// Keystroke to echo drawn in a Chromium dashboard (bench/echo.ts), guard on.
if (Number(Deno.env.get("BENCH_ECHO_KEYS") ?? 200) > 0) {
  console.log("\n| measure (guard on) | figure |\n|---|---|");
  for (const [measure, figure] of await benchEcho()) {
    console.log(`| ${measure} | ${figure} |`);
  }
}

// Late joiner: open a session with a long history (bench/late_join.ts).
if (LATE_JOIN_MB > 0) {
  const rows = await lateJoin(LATE_JOIN_MB); // prints its FIGURE line first
  console.log(`\n| late joiner | value |\n|---|---|`);
  for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
}
