/**
 * Graceful restart: SIGTERM makes the server close every dashboard socket
 * with 1001 and exit 0 within a few seconds. Started again on the same port
 * and data dir, the dashboards and the agent reconnect by themselves and a
 * new command runs with its complete output at every dashboard.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import {
  assertCompleteOutput,
  createDashboard,
  now,
  numberedLines,
} from "./dashboard.ts";
import { killAgent, startAgent, waitUntil } from "./fixtures.ts";

Deno.test({
  name:
    "faults: SIGTERM closes every dashboard with 1001 and exits 0; after a restart clients reconnect and a command works",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const operator = await server.token("operator");
    const agent = await startAgent(server, "term-1");
    const dashboards = await Promise.all(
      ["d1", "d2", "d3"].map((name) =>
        createDashboard({ wsUrl: server.wsUrl, token: operator, name })
      ),
    );
    try {
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("term-1") === "online"),
        15_000,
        "agent online",
      );
      const before = await dashboards[0].request("term-1", "echo before");
      for (const d of dashboards) await d.waitComplete(before, 10_000);
      const sockets = dashboards.map((d) => d.socket!);
      const closesBefore = dashboards.map((d) => d.closes.length);
      const termAt = now();
      const status = await server.kill("SIGTERM", 5_000);
      const exitMs = now() - termAt;
      assert.equal(status?.code, 0, `exit code ${status?.code}`);
      assert.equal(status?.signal, null);
      assert.ok(exitMs < 5_000, `exit took ${Math.round(exitMs)} ms`);
      for (const [i, d] of dashboards.entries()) {
        await waitUntil(
          () => d.closes.length > closesBefore[i],
          5_000,
          `${d.name}: socket closed`,
        );
        assert.equal(d.closes[closesBefore[i]].code, 1001, d.name);
        assert.equal(sockets[i].readyState, WebSocket.CLOSED);
      }
      assert.match(server.log, /Received SIGTERM/);

      const acks = dashboards.map((d) => d.acks);
      await server.restart();
      await waitUntil(
        () => dashboards.every((d, i) => d.acks > acks[i] && d.connected),
        15_000,
        "dashboards reconnected by themselves",
      );
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("term-1") === "online"),
        20_000,
        "agent reconnected by itself",
      );
      const lines = 2_000;
      const after = await dashboards[1].request(
        "term-1",
        `for i in $(seq 1 ${lines}); do echo "line $i"; done; exit 3`,
      );
      for (const d of dashboards) {
        await d.waitComplete(after, 20_000);
        assertCompleteOutput(d, after, numberedLines(lines), {
          status: "failed",
          exitCode: 3,
        });
        assertCompleteOutput(d, before, "before\n", {
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
