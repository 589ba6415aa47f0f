/**
 * Cluster mode with real processes: three servers on one Redis behind a
 * round-robin TCP proxy, a real agent on one node and real-client
 * dashboards on the two others.
 */
import assert from "node:assert/strict";
import {
  connectDashboards,
  TestCluster,
  withClusterAgent,
} from "./cluster_harness.ts";
import {
  assertCompleteOutput,
  numberedLines,
  waitUntil,
} from "./faults/dashboard.ts";
import type { Priority } from "../lib/protocol.ts";

const LINES = 20_000;

Deno.test({
  name:
    "cluster: agent on one node, dashboards on two others: commands from either run once in priority order, output identical everywhere",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using cluster = await TestCluster.start();
    await withClusterAgent(
      cluster,
      "c-1",
      async ({ dashboards, marks }) => {
        assert.equal(cluster.proxy.upstreams.length, 1);
        const agentPort = cluster.proxy.upstreams[0];
        await connectDashboards(cluster, dashboards, ["d1", "d2"]);
        // Each dashboard on a node of its own, neither the agent's.
        const ports = cluster.proxy.upstreams.slice(1);
        assert.equal(ports.length, 2);
        assert.equal(new Set([agentPort, ...ports]).size, 3);
        const [d1, d2] = dashboards;
        await waitUntil(
          () => dashboards.every((d) => d.agentStatus("c-1") === "online"),
          10_000,
          "agent online on every dashboard's node",
        );
        // A first command holds the agent while the others queue behind it.
        const gate = await Deno.makeTempFile({ prefix: "flightdeck-gate-" });
        const first = await d1.request(
          "c-1",
          `while [ ! -e ${gate}.go ]; do sleep 0.05; done; ` +
            `echo first >> ${marks}`,
        );
        await waitUntil(
          () => dashboards.every((d) => d.command(first)?.status === "running"),
          10_000,
          "first command running everywhere",
        );
        const plan: [string, Priority][] = [
          ["low-1", "low"],
          ["normal-1", "normal"],
          ["high-1", "high"],
          ["low-2", "low"],
          ["normal-2", "normal"],
          ["high-2", "high"],
        ];
        const ids = new Map<string, string>();
        for (const [i, [label, priority]] of plan.entries()) {
          const d = i % 2 === 0 ? d1 : d2;
          ids.set(
            label,
            await d.request("c-1", `echo ${label} >> ${marks}`, priority),
          );
        }
        await waitUntil(
          () =>
            dashboards.every((d) =>
              d.stores.queues.value.get("c-1")?.length === plan.length
            ),
          10_000,
          "six queued, seen on both nodes",
        );
        const big = await d2.request(
          "c-1",
          `seq 1 ${LINES} | sed 's/^/line /'`,
          "low",
        );
        await Deno.writeTextFile(`${gate}.go`, "");
        for (const d of dashboards) {
          await d.waitComplete(big, 30_000);
          for (const id of ids.values()) await d.waitComplete(id, 30_000);
          await d.waitComplete(first, 30_000);
        }
        const order = [
          "first",
          "high-1",
          "high-2",
          "normal-1",
          "normal-2",
          "low-1",
          "low-2",
        ];
        // Each ran exactly once, in priority order (FIFO within a priority).
        assert.equal(await Deno.readTextFile(marks), order.join("\n") + "\n");
        const expected = numberedLines(LINES);
        for (const d of dashboards) {
          assertCompleteOutput(d, big, expected, {
            status: "completed",
            exitCode: 0,
          });
          for (const label of order.slice(1)) {
            assert.deepEqual(
              d.statusHistory.get(ids.get(label)!),
              ["queued", "running", "completed"],
              `${d.name} ${label}`,
            );
          }
        }
        assert.deepEqual(
          d1.stores.output.fullText(big),
          d2.stores.output.fullText(big),
        );
        await Deno.remove(gate).catch(() => {});
        await Deno.remove(`${gate}.go`).catch(() => {});
      },
    );
  },
});
