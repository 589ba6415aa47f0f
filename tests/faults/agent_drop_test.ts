/**
 * "Nothing lost", agent side: the agent's connection is cut mid-command and
 * refused for 3 s. The command keeps running on the agent; the output made
 * meanwhile arrives after the agent reconnects, nothing is duplicated at any
 * dashboard, and the command completes with exit 0.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import {
  assertCompleteOutput,
  createDashboard,
  now,
  numberedLines,
} from "./dashboard.ts";
import { killAgent, startAgent, waitUntil } from "./fixtures.ts";

const LINES = 30_000;

Deno.test({
  name:
    "faults: agent socket cut and refused for 3 s mid-command; output made meanwhile arrives once, completed 0",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    await using proxy = new TcpProxy(server.port);
    const operator = await server.token("operator");
    const agent = await startAgent(server, "adrop-1", proxy.url);
    const dashboards = await Promise.all(
      ["d1", "d2"].map((name) =>
        createDashboard({ wsUrl: server.wsUrl, token: operator, name })
      ),
    );
    const [d1] = dashboards;
    try {
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("adrop-1") === "online"),
        15_000,
        "agent online",
      );
      // ~6 s: a 100 ms pause every 500 lines.
      const id = await d1.request(
        "adrop-1",
        `for i in $(seq 1 ${LINES}); do echo "line $i"; ` +
          `if (( i % 500 == 0 )); then sleep 0.1; fi; done`,
      );
      await waitUntil(
        () => (d1.stores.output.lastSeq(id) ?? 0) >= 5,
        10_000,
        "some output before the cut",
      );
      proxy.block(3_000);
      const cutAt = now();
      assert.equal(proxy.cut(), 1, "one agent connection cut");
      const seqAtCut = d1.stores.output.lastSeq(id) ?? 0;
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("adrop-1") === "offline"),
        5_000,
        "agent offline at every dashboard after the cut",
      );
      // Nothing new can arrive while the agent is refused. Chunks the
      // server took before the cut may still be on their way to the
      // dashboard when it cuts, so count from when the dashboard saw the
      // agent go offline (at most the one chunk the server was storing
      // then may follow).
      const seqAtOffline = d1.stores.output.lastSeq(id) ?? 0;
      await waitUntil(() => now() - cutAt > 2_500, 5_000, "outage");
      const seqDuringOutage = d1.stores.output.lastSeq(id) ?? 0;
      assert.ok(
        seqDuringOutage <= seqAtOffline + 1,
        `output arrived while refused: ${seqAtCut} at the cut, ` +
          `${seqAtOffline} when offline → ${seqDuringOutage}`,
      );
      assert.equal(d1.command(id)?.status, "running");
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("adrop-1") === "busy"),
        15_000,
        "agent back (busy) at every dashboard",
      );
      const backAt = now();
      assert.ok(proxy.refused >= 1, "the agent was refused at least once");
      const final = await d1.waitComplete(id, 30_000);
      assert.equal(final.status, "completed");
      const expected = numberedLines(LINES);
      for (const d of dashboards) {
        await d.waitComplete(id, 10_000);
        const report = assertCompleteOutput(d, id, expected, {
          status: "completed",
          exitCode: 0,
        });
        assert.ok(report.renderOrder.length > seqDuringOutage + 1);
      }
      // deno-lint-ignore no-console
      console.log(
        `agent drop: seq ${seqAtCut} at the cut, back after ${
          Math.round(backAt - cutAt)
        } ms (${proxy.refused} refused attempts), ${
          d1.renderOrder.get(id)?.length
        } chunks in total`,
      );
    } finally {
      for (const d of dashboards) d.stop();
      await killAgent(agent);
    }
  },
});
