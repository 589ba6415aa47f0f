// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * `deno run -A bench/cluster.ts` (or `deno task bench --only=cluster`): one
 * server versus three on one Redis, on 127.0.0.1, every server a process of
 * its own (`main.ts` with `FLIGHTDECK_REDIS_URL`), a real agent
 * (`agent.ts`) on the first server, and two dashboards in this process.
 *
 * - Throughput: MiB/s of one command's output (`BENCH_CLUSTER_MIB`, default
 *   32) from request to the last byte at both dashboards: with one server
 *   both dashboards are on it; with three they are on the two servers
 *   without the agent (every byte crosses Redis).
 * - Latency: a line printed every 20 ms with its time (`date +%s%N`),
 *   printed → received, at a dashboard on the agent's server and at one on
 *   another server of the same cluster: the difference is the Redis hop
 *   (stored, published, forwarded).
 *
 * Each chunk's seq is checked (contiguous, no duplicate); any loss fails the
 * run. Every figure is printed as `FIGURE name=value`.
 *
 * @module
 */
import { figureLine, percentile } from "./stats.ts";
import { RedisServer } from "../tests/redis_server.ts";
import { ServerProcess } from "../tests/faults/server_process.ts";
import { AgentProcess } from "../tests/helpers.ts";

const MIB = Number(Deno.env.get("BENCH_CLUSTER_MIB") ?? 32);
const LINES = 200;

/** A dashboard socket that counts output bytes and records line latency. */
class Meter {
  readonly socket: WebSocket;
  bytes = new Map<string, number>();
  lastSeq = new Map<string, number>();
  latencies: number[] = [];
  online = new Set<string>();
  replies = new Map<string, string>();
  errors: string[] = [];
  #waiters = new Set<() => void>();

  constructor(url: string, token: string) {
    this.socket = new (WebSocket as unknown as new (
      url: string,
      options: { headers: Record<string, string> },
    ) => WebSocket)(`${url}/ws/dashboard`, {
      headers: { authorization: `Bearer ${token}` },
    });
    this.socket.onmessage = (event) => {
      const at = Date.now();
      const m = JSON.parse(String(event.data));
      if (m.type === "terminal:output") {
        const { commandId, seq, data } = m.payload;
        const last = this.lastSeq.get(commandId) ?? 0;
        if (seq !== last + 1) {
          this.errors.push(`${commandId}: seq ${seq} after ${last}`);
        }
        this.lastSeq.set(commandId, seq);
        this.bytes.set(
          commandId,
          (this.bytes.get(commandId) ?? 0) + data.length,
        );
        for (const line of data.split("\n")) {
          const ns = /^t(\d{19})$/.exec(line);
          if (ns) this.latencies.push(at - Number(BigInt(ns[1]) / 1_000_000n));
        }
      } else if (m.type === "agent:status" || m.type === "agent:list") {
        const agents = m.type === "agent:list"
          ? m.payload.agents
          : [m.payload.agent];
        for (const a of agents) {
          if (a.status === "offline") this.online.delete(a.id);
          else this.online.add(a.id);
        }
      } else if (m.type === "command:status" && m.payload.replyTo) {
        this.replies.set(m.payload.replyTo, m.payload.command.id);
      } else if (m.type === "error") {
        this.errors.push(m.payload.message);
      }
      for (const wake of this.#waiters) wake();
    };
  }

  async until(check: () => boolean, what: string, ms = 120_000) {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`Timed out: ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.#waiters.clear();
    }
  }

  async request(agentId: string, command: string): Promise<string> {
    const id = crypto.randomUUID();
    this.socket.send(JSON.stringify({
      version: "1.0.0",
      type: "command:request",
      id,
      timestamp: Date.now(),
      payload: { agentId, command, priority: "normal" },
    }));
    await this.until(() => this.replies.has(id), "command accepted", 10_000);
    return this.replies.get(id)!;
  }
}

/** `nodes` servers on a fresh Redis, an agent on the first, two meters. */
async function run(nodes: number) {
  const redis = await RedisServer.start();
  const servers: ServerProcess[] = [];
  let agent: AgentProcess | null = null;
  const meters: Meter[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      servers.push(
        await ServerProcess.start({
          env: { FLIGHTDECK_REDIS_URL: redis.url },
        }),
      );
    }
    agent = new AgentProcess([
      "--server",
      servers[0].url,
      "--token",
      await servers[0].token("agent", "bench-1"),
      "--name",
      "bench-1",
    ]);
    await agent.waitStderr(/connected to/, 20_000);
    const token = await servers[0].token("operator");
    // One server: both on it; three: on the two without the agent.
    const at = nodes === 1 ? [servers[0], servers[0]] : servers.slice(1, 3);
    for (const server of at) meters.push(new Meter(server.wsUrl, token));
    for (const meter of meters) {
      await meter.until(() => meter.online.has("bench-1"), "agent online");
    }
    const bytes = MIB * 1024 * 1024;
    const started = performance.now();
    const id = await meters[0].request(
      "bench-1",
      `head -c ${bytes} /dev/zero | tr '\\0' 'x'`,
    );
    for (const meter of meters) {
      await meter.until(() => (meter.bytes.get(id) ?? 0) >= bytes, "all bytes");
    }
    const seconds = (performance.now() - started) / 1000;
    const errors = meters.flatMap((m) => m.errors);
    if (errors.length) throw new Error(`Lost or repeated output: ${errors}`);
    let latency: { local: number[]; remote: number[] } | null = null;
    if (nodes > 1) {
      // A meter on the agent's own server as well.
      const local = new Meter(servers[0].wsUrl, token);
      meters.push(local);
      await local.until(() => local.online.has("bench-1"), "agent online");
      const ticks = await meters[0].request(
        "bench-1",
        `for i in $(seq 1 ${LINES}); do echo "t$(date +%s%N)"; sleep 0.02; done`,
      );
      for (const meter of [local, meters[0]]) {
        await meter.until(
          () => meter.latencies.length >= LINES,
          "every line",
          60_000,
        );
      }
      if (!ticks) throw new Error("no command");
      latency = { local: local.latencies, remote: meters[0].latencies };
    }
    return { mibPerSecond: MIB / seconds, latency };
  } finally {
    for (const meter of meters) meter.socket.close();
    if (agent) await agent.kill("SIGKILL");
    for (const server of servers) await server.dispose();
    await redis.close();
  }
}

/**
 * Run both configurations, print the figures, and return `[measure,
 * value]` rows for bench/run.ts's table.
 */
export async function clusterBench(): Promise<[string, string][]> {
  const one = await run(1);
  const three = await run(3);
  const lat = three.latency!;
  const figures: [string, number][] = [
    ["cluster_1_node_mbps", one.mibPerSecond],
    ["cluster_3_nodes_mbps", three.mibPerSecond],
    ["cluster_latency_local_p50_ms", percentile(lat.local, 50)],
    ["cluster_latency_local_p99_ms", percentile(lat.local, 99)],
    ["cluster_latency_remote_p50_ms", percentile(lat.remote, 50)],
    ["cluster_latency_remote_p99_ms", percentile(lat.remote, 99)],
    [
      "cluster_redis_hop_p50_ms",
      percentile(lat.remote, 50) - percentile(lat.local, 50),
    ],
  ];
  console.log(
    `\n| cluster (${MIB} MiB, ${LINES} lines) | value |\n| --- | --- |`,
  );
  for (const [name, value] of figures) {
    console.log(`| ${name} | ${value.toFixed(2)} |`);
  }
  for (const [name, value] of figures) console.log(figureLine(name, value));
  const f = (name: string) => figures.find(([n]) => n === name)![1];
  return [
    [
      `cluster: ${MIB} MiB to 2 dashboards, 1 node / 3 nodes (MiB/s)`,
      `${f("cluster_1_node_mbps").toFixed(2)} / ${
        f("cluster_3_nodes_mbps").toFixed(2)
      }`,
    ],
    [
      "cluster: line latency p50/p99, agent's node / other node (ms)",
      `${f("cluster_latency_local_p50_ms")}/${
        f("cluster_latency_local_p99_ms")
      } / ${f("cluster_latency_remote_p50_ms")}/${
        f("cluster_latency_remote_p99_ms")
      }`,
    ],
  ];
}

if (import.meta.main) await clusterBench();
