/**
 * Batched output storage across a crash: the real server (a subprocess)
 * stores output in batches, each commit waiting 150 ms
 * (`FLIGHTDECK_TEST_APPEND_DELAY_MS`), so while output flows there are
 * always chunks broadcast and not stored (not acknowledged). The server is
 * SIGKILLed mid-stream and restarted on the same data dir: the agent resends
 * what was not acknowledged, and the command's output ends complete, in
 * order, each seq stored once: the live dashboard renders every line once,
 * and a dashboard replaying the whole command from storage afterwards gets
 * exactly the output, with no gap and no duplicate.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import {
  assertCompleteOutput,
  createDashboard,
  numberedLines,
  sha256,
} from "./dashboard.ts";
import { TestClient } from "../helpers.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";

const LINES = 40_000;

Deno.test({
  name:
    "faults: server SIGKILLed while batched output is not stored yet: the agent resends, nothing lost or duplicated",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start({
      env: { FLIGHTDECK_TEST_APPEND_DELAY_MS: "150" },
    });
    const operator = await server.token("operator");
    const agent = await startAgent(server, "batch-kill");
    const d = await createDashboard({
      wsUrl: server.wsUrl,
      token: operator,
      name: "d",
    });
    let replay: TestClient | null = null;
    try {
      await waitUntil(
        () => d.agentStatus("batch-kill") === "online",
        15_000,
        "agent online",
      );
      // About 3 s of output (a 50 ms pause every 1000 lines).
      const id = await d.request(
        "batch-kill",
        `for i in $(seq 1 ${LINES}); do echo "line $i"; ` +
          `if (( i % 1000 == 0 )); then sleep 0.05; fi; done`,
      );
      await waitUntil(
        () => (d.stores.output.lastSeq(id) ?? 0) >= 10,
        15_000,
        "output flowing before the crash",
      );
      await server.kill("SIGKILL");
      await server.restart();
      const final = await d.waitComplete(id, 60_000);
      assert.equal(final.status, "completed");
      const expected = numberedLines(LINES);
      // Chunks seen live before the crash and not stored then are resent
      // by the agent and reach the dashboard again: dropped by seq.
      const live = assertCompleteOutput(d, id, expected, {
        status: "completed",
        exitCode: 0,
      }, { allowWireDuplicates: true });
      // How many chunks were broadcast before the crash, not stored, and
      // resent (they reached the dashboard twice).
      figure("batch-kill-resent-chunks", live.wireDuplicates);
      // What is stored: the whole output once, in order, no gap.
      const lastSeq = d.stores.output.lastSeq(id)!;
      replay = new TestClient(`${server.wsUrl}/ws/dashboard`, {
        authorization: `Bearer ${operator}`,
      });
      await replay.waitFor((m) => m.type === "agent:list");
      replay.send("terminal:resume", { commandId: id, afterSeq: 0 });
      await replay.waitFor((m) =>
        m.type === "terminal:output" && m.payload.seq === lastSeq
      );
      const chunks = replay.of("terminal:output");
      assert.deepEqual(
        chunks.map((c) => c.seq),
        Array.from({ length: lastSeq }, (_, i) => i + 1),
        "each seq replayed once, in order",
      );
      assert.deepEqual(replay.of("terminal:gap"), [], "nothing lost");
      assert.equal(
        await sha256(chunks.map((c) => c.data).join("")),
        await sha256(expected),
        "stored output bytes",
      );
    } finally {
      d.stop();
      await replay?.close();
      await killAgent(agent);
    }
  },
});
