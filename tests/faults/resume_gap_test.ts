/**
 * Resume after a 10 MiB gap: a dashboard is disconnected (and refused) while
 * a command produces ~10 MiB, then reconnects by itself and resumes. Measures
 * the time from the reconnect (`connection:ack`) to the complete output.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import { assertCompleteOutput, createDashboard, now } from "./dashboard.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";

const LINE = "0123456789".repeat(9) + "abcdefghi";
const MIB = 1_048_576;
const BURSTS = 10;

Deno.test({
  name:
    "faults: a dashboard away during 10 MiB of output resumes to the complete output (time measured)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    await using proxy = new TcpProxy(server.port);
    const operator = await server.token("operator");
    const agent = await startAgent(server, "gap-1");
    const steady = await createDashboard({
      wsUrl: server.wsUrl,
      token: operator,
      name: "steady",
    });
    const away = await createDashboard({
      wsUrl: proxy.wsUrl,
      token: operator,
      name: "away",
      retryTimeScale: 50,
    });
    try {
      await waitUntil(
        () => away.agentStatus("gap-1") === "online",
        15_000,
        "agent online",
      );
      // "start", then 10 × 1 MiB in bursts (under the agent rate limit).
      const id = await steady.request(
        "gap-1",
        `echo start; sleep 0.5; f=$(mktemp); yes '${LINE}' | head -c ${MIB} > "$f"; ` +
          `for i in $(seq 1 ${BURSTS}); do cat "$f"; sleep 0.06; done; rm -f "$f"`,
      );
      await waitUntil(
        () => away.stores.output.lastSeq(id) === 1,
        10_000,
        "first chunk at the away dashboard",
      );
      proxy.block(120_000);
      proxy.cut();
      await waitUntil(() => !away.connected, 5_000, "away disconnected");
      const acks = away.acks;
      await steady.waitComplete(id, 60_000);
      const block = `${LINE}\n`.repeat(10_486).slice(0, MIB);
      const expected = `start\n${block.repeat(BURSTS)}`;
      assertCompleteOutput(steady, id, expected, {
        status: "completed",
        exitCode: 0,
      });
      assert.equal(away.stores.output.lastSeq(id), 1, "away missed it all");
      proxy.block(0);
      await waitUntil(() => away.acks > acks, 10_000, "away reconnected");
      await away.waitComplete(id, 60_000);
      const doneAt = now();
      const ms = doneAt - away.ackTimes[acks];
      assertCompleteOutput(away, id, expected, {
        status: "completed",
        exitCode: 0,
      });
      figure("resume-10mib-gap-ms", Math.round(ms));
      assert.ok(ms < 20_000, `resume took ${Math.round(ms)} ms`);
    } finally {
      steady.stop();
      away.stop();
      await killAgent(agent);
    }
  },
});
