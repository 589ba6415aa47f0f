/**
 * Cluster mode, a node dies: three real servers on one Redis behind a
 * round-robin proxy; the node holding the agent is SIGKILLed in the middle
 * of a 50 MiB stream. The agent reconnects through the proxy to another
 * node, the dashboards of the dead node reconnect elsewhere, every
 * dashboard ends with every byte exactly once, and the queued commands run
 * once each. Separately: an agent that does not come back shows offline on
 * every other node within 5 s.
 */
import assert from "node:assert/strict";
import {
  connectDashboards,
  TestCluster,
  withClusterAgent,
} from "./cluster_harness.ts";
import {
  assertCompleteOutput,
  now,
  numberedLines,
  type RealDashboard,
  waitUntil,
} from "./faults/dashboard.ts";
import { figure } from "./faults/fixtures.ts";

/** `line 1\n` … : about 50.4 MiB. */
const LINES = 4_100_000;

Deno.test({
  name:
    "cluster: SIGKILL of the agent's node mid 50 MiB stream: agent and dashboards move, every byte exactly once, queued commands run once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using cluster = await TestCluster.start();
    await withClusterAgent(
      cluster,
      "k-1",
      async ({ agent, dashboards, marks }) => {
        const agentPort = cluster.proxy.upstreams[0];
        await connectDashboards(cluster, dashboards, ["d1", "d2", "d3"], {
          retryTimeScale: 10,
        });
        // One dashboard per node, one of them on the agent's.
        const ports = cluster.proxy.upstreams.slice(1, 4);
        assert.equal(new Set(ports).size, 3);
        const onDead = dashboards[ports.indexOf(agentPort)];
        const others = dashboards.filter((d) => d !== onDead);
        await waitUntil(
          () => dashboards.every((d) => d.agentStatus("k-1") === "online"),
          10_000,
          "agent online everywhere",
        );
        const big = await others[0].request(
          "k-1",
          `seq 1 ${LINES} | sed 's/^/line /'`,
          "high",
        );
        const queued: [string, RealDashboard, "high" | "normal" | "low"][] = [
          ["q-low", others[1], "low"],
          ["q-high", onDead, "high"],
          ["q-normal", others[0], "normal"],
        ];
        const ids = new Map<string, string>();
        for (const [label, d, priority] of queued) {
          ids.set(
            label,
            await d.request("k-1", `echo ${label} >> ${marks}`, priority),
          );
        }
        // Kill the agent's node once a fifth of the stream reached a dashboard
        // on another node.
        const total = numberedLines(LINES).length;
        await waitUntil(
          () => others[1].stores.output.receivedBytes(big) > total / 5,
          60_000,
          "a fifth of the stream at another node",
        );
        assert.equal(others[1].command(big)?.status, "running");
        const acksBefore = onDead.acks;
        await cluster.nodeOn(agentPort).kill("SIGKILL");
        const killedAt = now();
        await agent.waitStderr(
          /reconnect|connected to .*\n[\s\S]*connected to/,
          30_000,
        )
          .catch(() => {});
        await waitUntil(
          () => onDead.acks > acksBefore && onDead.connected,
          30_000,
          "the dead node's dashboard reconnected elsewhere",
        );
        for (const d of dashboards) {
          await d.waitComplete(big, 180_000);
          for (const id of ids.values()) await d.waitComplete(id, 30_000);
        }
        figure("cluster_kill_recovered_ms", Math.round(now() - killedAt));
        const expected = numberedLines(LINES);
        for (const d of dashboards) {
          // The dead node's dashboard got chunks live that died with the node
          // before they were stored; the agent sends them again to its new
          // node, which does not send them to that dashboard a second time
          // (its resume said it has them).
          assertCompleteOutput(d, big, expected, {
            status: "completed",
            exitCode: 0,
          }, { checkOutputBytes: false });
        }
        // Queued before the kill: each ran once, in priority order.
        assert.equal(
          await Deno.readTextFile(marks),
          "q-high\nq-normal\nq-low\n",
        );
        for (const d of dashboards) {
          for (const [label] of queued) {
            assert.deepEqual(
              d.statusHistory.get(ids.get(label)!)?.filter((s) =>
                s !== "queued"
              ),
              ["running", "completed"],
              `${d.name} ${label}`,
            );
          }
        }
        // The agent moved: a node that is still alive holds it.
        assert.ok(
          cluster.proxy.upstreams.slice(4).some((p) => p !== agentPort),
        );
      },
    );
  },
});

Deno.test({
  name:
    "cluster: SIGKILL of the agent's node while the agent cannot reconnect: offline on every other node within 5 s, its running command lost after lostAfterMs",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using cluster = await TestCluster.start({
      env: { FLIGHTDECK_LOST_AFTER_MS: "2000" },
    });
    await withClusterAgent(cluster, "k-2", async ({ agent, dashboards }) => {
      const agentPort = cluster.proxy.upstreams[0];
      await connectDashboards(cluster, dashboards, ["d1", "d2"]);
      assert.ok(!cluster.proxy.upstreams.slice(1).includes(agentPort));
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("k-2") === "online"),
        10_000,
        "agent online everywhere",
      );
      const running = await dashboards[0].request("k-2", "sleep 600");
      await waitUntil(
        () => dashboards.every((d) => d.command(running)?.status === "running"),
        10_000,
        "command running everywhere",
      );
      // Frozen: it cannot notice the node going, nor reconnect.
      await agent.kill("SIGSTOP");
      await cluster.nodeOn(agentPort).kill("SIGKILL");
      const killedAt = now();
      await waitUntil(
        () => dashboards.every((d) => d.agentStatus("k-2") === "offline"),
        10_000,
        "agent offline everywhere",
      );
      const after = Math.max(
        ...dashboards.map((d) =>
          d.agentEvents.get("k-2")!.findLast((e) => e.status === "offline")!.at
        ),
      ) - killedAt;
      figure("cluster_offline_after_node_death_ms", Math.round(after));
      assert.ok(after < 5000, `offline after ${after} ms`);
      // Still connected to their own nodes: they learnt it live.
      assert.ok(dashboards.every((d) => d.acks === 1));
      // A surviving node ran its lost timer.
      await waitUntil(
        () => dashboards.every((d) => d.command(running)?.status === "lost"),
        20_000,
        "command lost everywhere",
      );
      for (const d of dashboards) {
        assert.deepEqual(d.statusHistory.get(running), [
          "queued",
          "running",
          "lost",
        ]);
      }
    });
  },
});
