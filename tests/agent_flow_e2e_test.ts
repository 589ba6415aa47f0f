/**
 * Output flow control end to end (docs/protocol.md, "Output flow control"),
 * with a real agent process, pipes and PTY: against a server that stores
 * output slowly (20 ms per append) with the smallest window (256 KiB), the
 * agent stops reading the command's output while the window is full, so the
 * program blocks on its pipe or terminal; when the command ends the server
 * has every byte once and in order, and the agent never lost its connection
 * (a connection over the window is closed 4429 and the agent would
 * reconnect and resend: it never did).
 */
import assert from "node:assert/strict";
import { AgentProcess, startTestServer } from "./helpers.ts";
import { blockedOnPipe, blockedOnTerminal } from "../lib/agent/test_procs.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { queueCommand, TestClient } from "./helpers.ts";

const KIB = 1024;
const BYTES = 4 * 1024 * KIB;

for (const mode of ["pipes", "pty"] as const) {
  Deno.test({
    name:
      `flow control end to end (${mode}): the agent stops reading at the window, the program blocks, every byte arrives once and in order, no reconnect`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using server = await startTestServer({
        agentOutputWindowBytes: 256 * KIB,
        testAppendDelayMs: 20,
      });
      const name = `flow-${mode}`;
      const agent = await AgentProcess.start(
        server,
        name,
        mode === "pty" ? ["--pty"] : [],
      );
      const operator = await TestClient.dashboard(server);
      try {
        await agent.waitStderr(/connected to /, 20_000);
        const id = await queueCommand(operator, {
          agentId: name,
          command: `head -c ${BYTES} /dev/zero | tr '\\0' a`,
        });
        await operator.close();
        await agent.waitStderr(new RegExp(`running ${id} \\(pid \\d+\\)`));
        const pid = Number(
          new RegExp(`running ${id} \\(pid (\\d+)\\)`).exec(agent.stderr)![1],
        );
        // While the server is still storing, the program waits on its full
        // pipe or terminal: the agent is not reading.
        const blocked = mode === "pty" ? blockedOnTerminal : blockedOnPipe;
        await waitUntil(() => blocked(pid), 30_000, "the program blocked");
        const storedWhenBlocked = server.services.commands.broadcastSeq(id);
        await waitUntil(
          async () =>
            (await server.services.commands.get(id))?.status === "completed",
          120_000,
          "the command completed",
        );
        const chunks = [];
        for await (const chunk of server.services.commands.readOutput(id, 0)) {
          chunks.push(chunk);
        }
        assert.deepEqual(
          chunks.map((c) => c.seq),
          chunks.map((_, i) => i + 1),
        );
        assert.ok(
          storedWhenBlocked < chunks.length,
          `blocked after ${storedWhenBlocked} of ${chunks.length} chunks`,
        );
        assert.equal(chunks.map((c) => c.data).join(""), "a".repeat(BYTES));
        // Frames within the window: data of at most a quarter of it.
        assert.ok(
          chunks.every((c) => c.data.length <= 64 * KIB),
          `largest chunk ${Math.max(...chunks.map((c) => c.data.length))}`,
        );
        assert.equal(agent.stderr.match(/connected to /g)?.length, 1);
        assert.doesNotMatch(agent.stderr, /reconnecting/);
      } finally {
        await operator.close();
        await agent.kill("SIGKILL");
      }
    },
  });
}
