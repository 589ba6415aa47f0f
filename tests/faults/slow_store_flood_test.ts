/**
 * A flooding agent against a slow store: a real agent process runs
 * `yes | head -c 128 MiB` while the real server (a subprocess) waits 1 ms
 * before every output append (`FLIGHTDECK_TEST_APPEND_DELAY_MS`). Output is
 * flow-controlled by `terminal:ack` (the window from `connection:ack`), so
 * the server's memory stays bounded while the agent is paused, the agent's
 * too, and every byte arrives once and in order.
 *
 * Without flow control the agent sends as fast as `yes` writes, the server
 * queues every frame it cannot store yet, and both processes grow with the
 * output: measured peaks 314 MiB (server) and 313 MiB (agent) from 74 and
 * 60 MiB. With it: 142 and 169 MiB; growth over the start 116 and 133-143
 * MiB (seen up to 236 MiB peak for the agent). With the young generation
 * capped as well (`--max-semi-space-size=4` for both then; lib/v8_flags.ts,
 * which the spawners pass): growth 74-89 MiB (server) and 69-91 MiB
 * (agent). What
 * remains is garbage V8 has not collected yet, not held output: the agent
 * holds at most the 4 MiB window, the server at most the window plus two
 * frames.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import { createDashboard, sha256 } from "./dashboard.ts";
import { ProbeProcess } from "./probe_process.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";

const LINE = "0123456789".repeat(9) + "abcdefghi"; // + "\n" = 100 bytes
const MIB = 1024 * 1024;
const BYTES = 128 * MIB;
const APPEND_DELAY_MS = 1;
/** Peak RSS growth allowed for each process: under the output's size. */
const GROWTH_BOUND = 128 * MIB;

/** `VmRSS` (now) and `VmHWM` (peak) of process `pid`, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

const mb = (bytes: number) => (bytes / MIB).toFixed(1);

Deno.test({
  name:
    "faults: a 128 MiB flood against a store that waits 1 ms per append: server and agent memory bounded, every byte in order",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      env: { FLIGHTDECK_TEST_APPEND_DELAY_MS: String(APPEND_DELAY_MS) },
    });
    const operator = await server.token("operator");
    const agent = await startAgent(server, "slow-1");
    const dashboard = await createDashboard({
      wsUrl: server.wsUrl,
      token: operator,
      name: "d",
    });
    const probe = new ProbeProcess(server.wsUrl, operator, 300_000);
    try {
      await waitUntil(
        () => dashboard.agentStatus("slow-1") === "online",
        15_000,
        "agent online",
      );
      await probe.ready();
      const serverBefore = memory(server.pid);
      const agentBefore = memory(agent.child.pid);
      const id = await dashboard.request(
        "slow-1",
        `yes '${LINE}' | head -c ${BYTES}`,
      );
      // The test's own dashboard only routes the request; the probe (its own
      // process) receives and hashes the output.
      dashboard.stop();
      await probe.follow(id);
      const report = await probe.report(300_000);
      const serverAfter = memory(server.pid);
      const agentAfter = memory(agent.child.pid);
      figure("slow-store-server-rss-before-mb", mb(serverBefore.rss));
      figure("slow-store-server-peak-rss-mb", mb(serverAfter.peak));
      figure("slow-store-agent-rss-before-mb", mb(agentBefore.rss));
      figure("slow-store-agent-peak-rss-mb", mb(agentAfter.peak));

      const expected = `${LINE}\n`.repeat(BYTES / 100) +
        `${LINE}\n`.slice(0, BYTES % 100);
      assert.equal(report.ok, true, `probe: ${probe.stderr}`);
      assert.equal(report.status, "completed");
      assert.equal(report.exitCode, 0);
      assert.equal(report.hasGap, false, "a terminal:gap: output was lost");
      assert.equal(report.inOrder, true, "chunks out of order");
      assert.equal(report.renderedTwice, 0);
      assert.equal(report.length, BYTES);
      assert.equal(report.outputBytes, BYTES);
      assert.equal(report.sha256, await sha256(expected), "output bytes");
      assert.ok(
        serverAfter.peak - serverBefore.rss < GROWTH_BOUND,
        `server RSS grew from ${mb(serverBefore.rss)} to a peak of ${
          mb(serverAfter.peak)
        } MiB`,
      );
      assert.ok(
        agentAfter.peak - agentBefore.rss < GROWTH_BOUND,
        `agent RSS grew from ${mb(agentBefore.rss)} to a peak of ${
          mb(agentAfter.peak)
        } MiB`,
      );
    } finally {
      dashboard.stop();
      await probe.dispose();
      await killAgent(agent);
    }
  },
});
