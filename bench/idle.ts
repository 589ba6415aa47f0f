/**
 * Idle dashboards in `deno task bench`: `conns` sockets held open by client
 * processes of at most {@link PER_PROCESS} sockets each, after a warm-up of
 * {@link WARM_UP} sockets (so one-time costs of the first connections are
 * not counted). Measures the server's (or relay's) resident memory per
 * connection, the time each socket took to connect and the time to connect
 * them all, and the status fan-out: one status change (Flightdeck: a
 * command makes the agent busy, `agent:status` goes to every dashboard;
 * relays: one frame on `/src`) until every socket has it.
 *
 * @module
 */
import { percentile } from "./stats.ts";
import { rssBytes } from "./proc.ts";
import { now } from "./client.ts";
import { startClients } from "./streams.ts";
import { AGENT_ID, startSystem, type SystemName } from "./systems.ts";
import { Wire } from "./wire.ts";

/** Sockets per client process. */
export const PER_PROCESS = 250;
/** Sockets opened (and kept) before the measure. */
export const WARM_UP = 50;
/** Pause for the server to settle before reading its memory. */
const SETTLE_MS = 2000;

/** What one idle run measured. */
export interface IdleRun {
  system: SystemName;
  conns: number;
  kibPerConn: number;
  connectP50Ms: number;
  connectP99Ms: number;
  /** From the first client process starting to connect to the last ready. */
  connectAllMs: number;
  /** Status change asked for → the last socket has it. */
  fanoutMs: number;
  /** First socket that had it → the last one. */
  fanoutSpreadMs: number;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/**
 * Hold `conns` idle dashboards on a fresh `system` (`env`: added to a
 * Flightdeck server's environment).
 */
export async function idleRun(
  system: SystemName,
  conns: number,
  env: Record<string, string> = {},
): Promise<IdleRun> {
  await using running = await startSystem(system, env);
  const flightdeck = system === "flightdeck";
  const control = await Wire.open(
    `${running.wsUrl}${flightdeck ? "/ws/dashboard" : "/src"}`,
    running.dashboardToken,
  );
  const options = {
    system: flightdeck ? "flightdeck" as const : "relay" as const,
    url: running.wsUrl,
    token: running.dashboardToken,
    mode: "idle" as const,
  };
  const all = [];
  try {
    const warm = await startClients(options, [WARM_UP]);
    all.push(...warm.clients);
    await settle();
    const before = rssBytes(running.serverPid);
    const sizes: number[] = [];
    for (let left = conns; left > 0; left -= PER_PROCESS) {
      sizes.push(Math.min(PER_PROCESS, left));
    }
    const main = await startClients(options, sizes, 120_000);
    all.push(...main.clients);
    // The slowest process, from its first connect to its last socket ready
    // (the processes connect at the same time, so this is about the span
    // of all of them, without the processes' start-up).
    const connectAllMs = Math.max(...main.ready.map((r) => r.spanMs));
    await settle();
    const after = rssBytes(running.serverPid);
    const connectMs = main.ready.flatMap((r) => r.connectMs);

    // Fan-out: arm every process, then one status change.
    const marks = all.map((c) => c.lines.length);
    await Promise.all(all.map((c) => c.write("ARM")));
    await Promise.all(all.map((c, i) => c.waitLine("ARMED", 30_000, marks[i])));
    const fanT0 = now();
    if (flightdeck) {
      control.sendMessage("command:request", {
        agentId: AGENT_ID,
        command: "true",
      });
    } else {
      control.send({ seq: 0, data: "status" });
    }
    const fans = await Promise.all(
      all.map(async (c, i) =>
        JSON.parse((await c.waitLine("FANOUT ", 60_000, marks[i])).slice(7))
      ),
    );
    const last = Math.max(...fans.map((f) => f.last));
    const first = Math.min(...fans.map((f) => f.first));
    return {
      system,
      conns,
      kibPerConn: (after - before) / conns / 1024,
      connectP50Ms: percentile(connectMs, 50),
      connectP99Ms: percentile(connectMs, 99),
      connectAllMs,
      fanoutMs: last - fanT0,
      fanoutSpreadMs: last - first,
    };
  } finally {
    await Promise.all(all.map((c) => c.stop()));
    await control.close();
  }
}
