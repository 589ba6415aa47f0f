/**
 * An agent whose command writes output as fast as it can (`yes | head`,
 * 50 MiB): every byte must reach the dashboard once and in order. Today the
 * server's per-connection message rate limit (2000/s on /ws/agent) refuses
 * `terminal:output` frames of a fast agent, and the following chunks turn
 * the hole into a permanent `terminal:gap`: output is lost.
 */
import { ServerProcess } from "./server_process.ts";
import { assertCompleteOutput, createDashboard } from "./dashboard.ts";
import { killAgent, startAgent, waitUntil } from "./fixtures.ts";

const LINE = "0123456789".repeat(9) + "abcdefghi";
const BYTES = 50 * 1024 * 1024;

Deno.test({
  name:
    "faults: 50 MiB written as fast as possible arrives complete (no output lost to the agent rate limit)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const agent = await startAgent(server, "fast-1");
    const d = await createDashboard({
      wsUrl: server.wsUrl,
      token: await server.token("operator"),
      name: "d",
    });
    try {
      await waitUntil(
        () => d.agentStatus("fast-1") === "online",
        15_000,
        "agent online",
      );
      const id = await d.request("fast-1", `yes '${LINE}' | head -c ${BYTES}`);
      await waitUntil(
        () => d.complete(id),
        20_000,
        "output complete",
        () =>
          `status ${d.command(id)?.status}, rendered ${
            d.stores.output.receivedBytes(id)
          } of ${BYTES} bytes (last seq ${d.stores.output.lastSeq(id)}), ` +
          `${d.stores.output.hasGap(id) ? "with" : "no"} terminal:gap, ` +
          `agent said: ${
            [...new Set(agent.stderr.split("\n"))].slice(0, 3).join(" | ")
          }`,
      );
      assertCompleteOutput(d, id, `${LINE}\n`.repeat(BYTES / 100), {
        status: "completed",
        exitCode: 0,
      });
    } finally {
      d.stop();
      await killAgent(agent);
    }
  },
});
