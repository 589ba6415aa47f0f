/**
 * "Nothing lost" across a server crash: the server is SIGKILLed while a
 * command runs and six more are queued with mixed priorities, then started
 * again on the same data dir. The running command is reconciled (still
 * running, then failed with its real exit code 7, output complete), the
 * queued ones run afterwards in priority order (FIFO within a priority),
 * each exactly once, and the dashboards reconnect by themselves.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import {
  assertCompleteOutput,
  createDashboard,
  numberedLines,
} from "./dashboard.ts";
import { killAgent, startAgent, waitUntil } from "./fixtures.ts";
import type { Priority } from "../../lib/protocol.ts";

const LINES = 20_000;

Deno.test({
  name:
    "faults: server SIGKILLed mid-command and restarted: running one reconciled (exit 7), queued ones run once in priority order",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const operator = await server.token("operator");
    const agent = await startAgent(server, "crash-1");
    const dashboards = await Promise.all(
      ["d1", "d2"].map((name) =>
        createDashboard({ wsUrl: server.wsUrl, token: operator, name })
      ),
    );
    const [d1, d2] = dashboards;
    try {
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("crash-1") === "online"),
        15_000,
        "agent online",
      );
      // ~5 s (a 100 ms pause every 400 lines), then exit 7.
      const running = await d1.request(
        "crash-1",
        `for i in $(seq 1 ${LINES}); do echo "line $i"; ` +
          `if (( i % 400 == 0 )); then sleep 0.1; fi; done; exit 7`,
      );
      await waitUntil(
        () => d1.command(running)?.status === "running",
        10_000,
        "first command running",
      );
      const plan: [string, Priority][] = [
        ["low-1", "low"],
        ["normal-1", "normal"],
        ["high-1", "high"],
        ["low-2", "low"],
        ["normal-2", "normal"],
        ["high-2", "high"],
      ];
      const queued = new Map<string, string>(); // label → command id
      for (const [label, priority] of plan) {
        const d = queued.size % 2 === 0 ? d1 : d2;
        queued.set(
          label,
          await d.request(
            "crash-1",
            `echo "out of ${label}"; sleep 0.05`,
            priority,
          ),
        );
      }
      await waitUntil(
        () =>
          dashboards.every((d) =>
            d.stores.queues.value.get("crash-1")?.length === plan.length
          ),
        5_000,
        "six commands queued",
      );
      await waitUntil(
        () => (d1.stores.output.lastSeq(running) ?? 0) >= 3,
        10_000,
        "output before the crash",
      );
      // A little more output, so the crash lands while output is flowing.
      const before = d1.stores.output.lastSeq(running) ?? 0;
      await waitUntil(
        () => (d1.stores.output.lastSeq(running) ?? 0) >= before + 2,
        10_000,
        "output still flowing",
      );
      assert.equal(d1.command(running)?.status, "running");
      const acksBefore = dashboards.map((d) => d.acks);
      await server.kill("SIGKILL");
      // A real outage: restart once every dashboard has noticed it.
      await waitUntil(
        () => dashboards.every((d) => !d.connected),
        15_000,
        "dashboards saw the server go",
      );
      await server.restart();

      // Dashboards reconnect by themselves and still see it running.
      await waitUntil(
        () => dashboards.every((d, i) => d.acks > acksBefore[i] && d.connected),
        15_000,
        "dashboards reconnected",
      );
      // Reconciled: still running after the restart (not failed or requeued).
      for (const d of dashboards) {
        assert.equal(d.command(running)?.status, "running", d.name);
      }
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("crash-1") === "busy"),
        15_000,
        "agent back, busy with the same command",
      );
      assert.equal(
        d1.stores.agents.value.get("crash-1")?.currentCommandId,
        running,
      );
      const expected = numberedLines(LINES);
      for (const d of dashboards) {
        const final = await d.waitComplete(running, 30_000);
        assert.equal(final.status, "failed");
        assert.equal(final.exitCode, 7);
      }
      const order = [
        "high-1",
        "high-2",
        "normal-1",
        "normal-2",
        "low-1",
        "low-2",
      ];
      const ids = order.map((label) => queued.get(label)!);
      for (const d of dashboards) {
        for (const id of ids) await d.waitComplete(id, 30_000);
      }
      for (const d of dashboards) {
        // outputBytes of the crashed command is wrong (see the next test).
        assertCompleteOutput(d, running, expected, {
          status: "failed",
          exitCode: 7,
        }, { checkOutputBytes: false });
        // The crashed command never passed through another state.
        assert.deepEqual(
          d.statusHistory.get(running),
          ["queued", "running", "failed"],
        );
        const finalRunning = d.command(running)!;
        const startedAts = ids.map((id) => d.command(id)!.startedAt!);
        assert.ok(
          startedAts[0] >= finalRunning.completedAt!,
          "queued commands start after the first one ends",
        );
        for (let i = 1; i < startedAts.length; i++) {
          assert.ok(
            startedAts[i] >= d.command(ids[i - 1])!.completedAt!,
            `${order[i]} started after ${order[i - 1]} completed`,
          );
        }
        for (const [i, id] of ids.entries()) {
          assertCompleteOutput(d, id, `out of ${order[i]}\n`, {
            status: "completed",
            exitCode: 0,
          }, {});
        }
      }
      // Each command ran exactly once: nothing else was ever started.
      const all = [...d1.stores.commands.value.values()];
      assert.equal(all.length, 7, "seven commands in total");
      assert.deepEqual(
        all.map((c) => c.status).sort(),
        [
          "completed",
          "completed",
          "completed",
          "completed",
          "completed",
          "completed",
          "failed",
        ],
      );
      assert.deepEqual(
        [...d2.stores.commands.value.keys()].sort(),
        [...d1.stores.commands.value.keys()].sort(),
      );
      // deno-lint-ignore no-console
      console.log(
        `server kill: order ${
          ids.map((id) => order[ids.indexOf(id)]).join(" < ")
        }, wire duplicates d1=${
          [...(d1.arrivals.get(running)?.values() ?? [])].filter((n) => n > 1)
            .length
        }`,
      );
    } finally {
      for (const d of dashboards) d.stop();
      await killAgent(agent);
    }
  },
});

Deno.test({
  name:
    "faults: outputBytes of a command running across a server SIGKILL counts all its output",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const operator = await server.token("operator");
    const agent = await startAgent(server, "crash-2");
    const d = await createDashboard({
      wsUrl: server.wsUrl,
      token: operator,
      name: "d",
    });
    try {
      await waitUntil(
        () => d.agentStatus("crash-2") === "online",
        15_000,
        "agent online",
      );
      const lines = 8_000;
      const id = await d.request(
        "crash-2",
        `for i in $(seq 1 ${lines}); do echo "line $i"; ` +
          `if (( i % 400 == 0 )); then sleep 0.1; fi; done`,
      );
      await waitUntil(
        () => (d.stores.output.lastSeq(id) ?? 0) >= 5,
        10_000,
        "output before the crash",
      );
      await server.kill("SIGKILL");
      await server.restart();
      await d.waitComplete(id, 30_000);
      const expected = numberedLines(lines);
      assertCompleteOutput(d, id, expected, {
        status: "completed",
        exitCode: 0,
      }, { checkOutputBytes: false });
      assert.equal(
        d.command(id)!.outputBytes,
        new TextEncoder().encode(expected).length,
        "outputBytes after the restart (bytes stored before the crash lost?)",
      );
    } finally {
      d.stop();
      await killAgent(agent);
    }
  },
});
