// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * Where the CPU of one output burst goes, per thread:
 * `deno run -A bench/threads.ts [system] [dashboards] [mib] [NAME=value...]`
 * (defaults: `flightdeck 10 100`; `NAME=value` goes to a Flightdeck
 * server's environment, e.g. `FLIGHTDECK_CONN_GUARD=off`). Starts the
 * system fresh as `deno task bench` does (bench/systems.ts), sends `mib`
 * MiB of `yes` lines to `dashboards` client processes (every byte and seq
 * verified), and prints the aggregate MB/s, then the CPU seconds (user +
 * system, and system alone) of every thread of the server (or relay) that
 * used more than 20 ms, read from `/proc/<pid>/task/<tid>/stat` before and
 * after the burst, and the CPU of the clients and of the agent (or
 * producer). Flightdeck's threads: `deno` (the main thread: WebSockets,
 * parsing, fan-out), `worker-1` (the connection guard), `sw-0` (Deno KV's
 * SQLite writer), `V8 DefaultWorke` (garbage collection helpers).
 *
 * @module
 */
import { cpuSeconds } from "./proc.ts";
import { LINE, startClients, yesCommand } from "./streams.ts";
import { startSystem, type SystemName } from "./systems.ts";

/** Clock ticks per second of `/proc/.../stat` (USER_HZ). */
const TICKS = 100;

/** CPU of one thread: user + system seconds, and system alone. */
interface ThreadCpu {
  name: string;
  total: number;
  system: number;
}

/** Every thread of `pid`, by thread id. */
export function threadCpu(pid: number): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(
        `/proc/${pid}/task/${entry.name}/stat`,
      );
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const user = Number(fields[11]) / TICKS;
      const system = Number(fields[12]) / TICKS;
      out.set(entry.name, { name, total: user + system, system });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

async function main(): Promise<void> {
  const [systemArg = "flightdeck", dashboardsArg = "10", mibArg = "100"] =
    Deno.args;
  const system = systemArg as SystemName;
  const dashboards = Number(dashboardsArg);
  const mib = Number(mibArg);
  const env: Record<string, string> = {};
  for (const arg of Deno.args.slice(3)) {
    const at = arg.indexOf("=");
    env[arg.slice(0, at)] = arg.slice(at + 1);
  }
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
    const before = threadCpu(running.serverPid);
    const clientsBefore = clients.map((c) => cpuSeconds(c.pid));
    const agentBefore = running.agentPid();
    const agentCpu0 = agentBefore ? cpuSeconds(agentBefore) : 0;
    const t0 = await running.produce(yesCommand(mib), clients[0]);
    const done = await Promise.all(
      clients.map(async (c) =>
        (await c.done<{ lastByteAt: number }>(30_000 + bytes / 1000))
          .lastByteAt
      ),
    );
    const after = threadCpu(running.serverPid);
    const seconds = (Math.max(...done) - t0) / 1000;
    console.log(
      `${system}, ${dashboards} dashboard(s), ${JSON.stringify(env)}: ${
        (bytes / 1e6 / seconds * dashboards).toFixed(1)
      } MB/s aggregate in ${seconds.toFixed(2)} s`,
    );
    const rows = [...after].map(([tid, cpu]) => {
      const was = before.get(tid);
      return {
        name: `${cpu.name} (${tid})`,
        total: cpu.total - (was?.total ?? 0),
        system: cpu.system - (was?.system ?? 0),
      };
    }).filter((row) => row.total > 0.02).sort((a, b) => b.total - a.total);
    for (const row of rows) {
      console.log(
        `  server thread ${row.name}: ${row.total.toFixed(2)} s (system ${
          row.system.toFixed(2)
        })`,
      );
    }
    const clientCpu = clients.map((c, i) =>
      cpuSeconds(c.pid) - clientsBefore[i]
    );
    console.log(
      `  clients: ${
        clientCpu.reduce((a, b) => a + b, 0).toFixed(2)
      } s in all (${clientCpu.map((s) => s.toFixed(2)).join(" ")})`,
    );
    const totals = await running.producerTotals();
    const agentCpu = totals
      ? totals.cpuSeconds
      : cpuSeconds(running.agentPid()!) - agentCpu0;
    console.log(
      `  ${totals ? "producer" : "agent"}: ${agentCpu.toFixed(2)} s`,
    );
    // The agent's own count of window stalls, logged once acknowledged.
    const deadline = Date.now() + 5000;
    let line: string | undefined;
    while (!totals && !line && Date.now() < deadline) {
      line = running.agentLines().find((l) => l.includes("output of "));
      if (!line) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (line) console.log(`  agent: ${line.slice(line.indexOf("output of "))}`);
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
}

if (import.meta.main) await main();
