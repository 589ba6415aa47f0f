/**
 * A frozen agent (SIGSTOP): every dashboard shows it offline within 5 s of
 * the stop; after SIGCONT it comes back by itself and the command started
 * before the stop finishes with its complete output, each seq once.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import {
  assertCompleteOutput,
  createDashboard,
  now,
  numberedLines,
} from "./dashboard.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";

const LINES = 10_000;

Deno.test({
  name:
    "faults: SIGSTOPped agent is offline at every dashboard within 5 s; after SIGCONT its command completes in full",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const operator = await server.token("operator");
    const agent = await startAgent(server, "frozen-1");
    const dashboards = await Promise.all(
      ["d1", "d2", "d3"].map((name) =>
        createDashboard({ wsUrl: server.wsUrl, token: operator, name })
      ),
    );
    const [d1] = dashboards;
    try {
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("frozen-1") === "online"),
        15_000,
        "agent online",
      );
      // ~3 s of output before the stop; the rest is made while frozen (the
      // shell runs on until the pipe to the stopped agent is full) and after.
      const id = await d1.request(
        "frozen-1",
        `for i in $(seq 1 ${LINES}); do echo "line $i"; ` +
          `if (( i % 200 == 0 )); then sleep 0.1; fi; done`,
      );
      await waitUntil(
        () => (d1.stores.output.lastSeq(id) ?? 0) >= 3,
        10_000,
        "output before the stop",
      );
      // A little more output, so the stop lands while output is flowing.
      const before = d1.stores.output.lastSeq(id) ?? 0;
      await waitUntil(
        () => (d1.stores.output.lastSeq(id) ?? 0) >= before + 2,
        10_000,
        "output still flowing",
      );
      agent.child.kill("SIGSTOP");
      const stoppedAt = now();
      const offlineAt = await Promise.all(dashboards.map(async (d) => {
        await waitUntil(
          () => d.agentStatus("frozen-1") === "offline",
          8_000,
          `${d.name}: agent offline`,
        );
        return d.agentEvents.get("frozen-1")!.findLast((e) =>
          e.status === "offline"
        )!.at;
      }));
      const worst = Math.max(...offlineAt) - stoppedAt;
      figure("time-to-offline-ms", Math.round(worst));
      assert.ok(worst < 5_000, `offline after ${Math.round(worst)} ms`);
      assert.equal(d1.command(id)?.status, "running");

      agent.child.kill("SIGCONT");
      await waitUntil(
        () =>
          dashboards.every((d) =>
            ["online", "busy"].includes(d.agentStatus("frozen-1") ?? "")
          ),
        15_000,
        "agent back after SIGCONT",
      );
      const expected = numberedLines(LINES);
      for (const d of dashboards) {
        await d.waitComplete(id, 30_000);
        assertCompleteOutput(d, id, expected, {
          status: "completed",
          exitCode: 0,
        });
      }
    } finally {
      for (const d of dashboards) d.stop();
      await killAgent(agent);
    }
  },
});
