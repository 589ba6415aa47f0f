/**
 * Output scenarios of `deno task bench`, one run of one system each:
 * bulk throughput to 1 or N dashboards (every byte and seq verified in
 * every client) and sparse-line latency. Each run starts the system fresh,
 * so the peak memory read from `/proc` (`VmHWM`) is that of one burst.
 *
 * @module
 */
import { Child, cpuSeconds, peakRssBytes, rssBytes } from "./proc.ts";
import type { ClientOptions } from "./client.ts";
import { ROOT } from "../tests/helpers.ts";
import { spawnDeno, startSystem, type SystemName } from "./systems.ts";

/** One line of `yes "$(printf '%099d' 0)"`: 99 zeros and a newline. */
export const LINE = "0".repeat(99) + "\n";

/**
 * The shell command printing `mib` MiB of {@link LINE}s (for 100 MiB the
 * same bytes as `yes "$(printf '%099d' 0)" | head -n 1048576`).
 */
export function yesCommand(mib: number): string {
  return `yes "$(printf '%099d' 0)" | head -c ${mib * 1024 * 1024}`;
}

/** Start one client process per entry of `sockets` and wait until READY. */
export async function startClients(
  options: Omit<ClientOptions, "sockets" | "control">,
  sockets: number[],
  timeoutMs = 60_000,
): Promise<
  { clients: Child[]; ready: { connectMs: number[]; spanMs: number }[] }
> {
  const clients = sockets.map((n, i) =>
    spawnDeno(`client ${i}`, "bench/client.ts", [
      JSON.stringify({ ...options, sockets: n, control: i === 0 }),
    ], { stdin: true })
  );
  try {
    const ready = await Promise.all(
      clients.map(async (c) =>
        JSON.parse((await c.waitLine("READY ", timeoutMs)).slice(6))
      ),
    );
    return { clients, ready };
  } catch (error) {
    await Promise.all(clients.map((c) => c.stop()));
    throw error;
  }
}

/** What one throughput run measured. */
export interface StreamRun {
  system: SystemName;
  dashboards: number;
  bytes: number;
  seconds: number;
  /** MB/s (10^6 bytes) per dashboard. */
  mbps: number;
  /** MB/s delivered in all (`mbps` × dashboards). */
  aggregateMbps: number;
  serverCpuSeconds: number;
  agentCpuSeconds: number;
  serverPeakRssBytes: number;
  agentPeakRssBytes: number;
  /** Resident memory of the server just before the burst (`VmRSS`). */
  serverIdleRssBytes: number;
  /**
   * Resident memory of the agent just before the burst; relays: NaN (their
   * producer starts with the burst, its peak is all growth).
   */
  agentIdleRssBytes: number;
  /** Flightdeck: chunks the agent dropped unacknowledged (from its log). */
  agentDrops?: number;
}

/**
 * `mib` MiB through `system` to `dashboards` dashboard processes; fails
 * when any byte or seq is missing, duplicated or wrong. `env` is added to
 * a Flightdeck server's environment.
 */
export async function streamRun(
  system: SystemName,
  dashboards: number,
  mib: number,
  env: Record<string, string> = {},
): Promise<StreamRun> {
  await using running = await startSystem(system, env);
  const bytes = mib * 1024 * 1024;
  const { clients } = await startClients({
    system: system === "flightdeck" ? "flightdeck" : "relay",
    url: running.wsUrl,
    token: running.dashboardToken,
    mode: "stream",
    unit: LINE,
    totalBytes: bytes,
  }, Array.from({ length: dashboards }, () => 1));
  try {
    const serverCpu0 = cpuSeconds(running.serverPid);
    const serverIdle = rssBytes(running.serverPid);
    const agentBefore = running.agentPid();
    const agentIdle = system === "flightdeck" && agentBefore !== undefined
      ? rssBytes(agentBefore)
      : NaN;
    const t0 = await running.produce(yesCommand(mib), clients[0]);
    const agentPid = running.agentPid()!;
    const agentCpu0 = system === "flightdeck" ? cpuSeconds(agentPid) : 0;
    // At least 1 MB/s, else the run fails.
    const timeoutMs = 30_000 + bytes / 1000;
    let peakServer = 0;
    let peakAgent = 0;
    const sample = () => {
      peakServer = Math.max(peakServer, peakRssBytes(running.serverPid) || 0);
      peakAgent = Math.max(peakAgent, peakRssBytes(agentPid) || 0);
    };
    const sampler = setInterval(sample, 100);
    let done: number[];
    try {
      done = await Promise.all(
        clients.map(async (c) =>
          (await c.done<{ lastByteAt: number }>(timeoutMs)).lastByteAt
        ),
      );
    } finally {
      clearInterval(sampler);
    }
    sample();
    const seconds = (Math.max(...done) - t0) / 1000;
    const serverCpuSeconds = cpuSeconds(running.serverPid) - serverCpu0;
    let agentCpuSeconds = cpuSeconds(agentPid) - agentCpu0;
    const totals = await running.producerTotals();
    if (totals) {
      agentCpuSeconds = totals.cpuSeconds;
      peakAgent = totals.peakRssBytes;
    }
    let agentDrops: number | undefined;
    if (system === "flightdeck") {
      const child = { lines: running.agentLines() };
      agentDrops = await agentDropsOf(child);
    }
    const mbps = bytes / 1e6 / seconds;
    return {
      system,
      dashboards,
      bytes,
      seconds,
      mbps,
      aggregateMbps: mbps * dashboards,
      serverCpuSeconds,
      agentCpuSeconds,
      serverPeakRssBytes: peakServer,
      agentPeakRssBytes: peakAgent,
      serverIdleRssBytes: serverIdle,
      agentIdleRssBytes: agentIdle,
      agentDrops,
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
}

/**
 * Chunks the agent dropped unacknowledged, from its line `output of …: …
 * N chunks dropped unacknowledged` (logged once the server acknowledged
 * the completion; waits up to 10 s for it).
 */
async function agentDropsOf(agent: { lines: string[] }): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    for (const line of agent.lines) {
      const match = /(\d+) chunks dropped unacknowledged/.exec(line);
      if (match) return Number(match[1]);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `No "chunks dropped" line from the agent:\n  ${
      agent.lines.slice(-10).join("\n  ")
    }`,
  );
}

/**
 * Sparse lines (bench/ticker.ts, `count` lines `intervalMs` apart) through
 * `system` to one dashboard: per line, printed to received, in ms. `env`
 * is added to a Flightdeck server's environment.
 */
export async function lineLatencyRun(
  system: SystemName,
  count: number,
  intervalMs: number,
  env: Record<string, string> = {},
): Promise<number[]> {
  await using running = await startSystem(system, env);
  const { clients } = await startClients({
    system: system === "flightdeck" ? "flightdeck" : "relay",
    url: running.wsUrl,
    token: running.dashboardToken,
    mode: "ticks",
    ticks: count,
  }, [1]);
  try {
    await running.produce(
      `"${Deno.execPath()}" run "${ROOT}bench/ticker.ts" ${count} ${intervalMs}`,
      clients[0],
    );
    const done = await clients[0].done<{ latencies: number[] }>(
      60_000 + count * intervalMs,
    );
    return done.latencies;
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
}
