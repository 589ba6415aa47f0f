/**
 * Retention: trimmed output is never skipped silently; a replay says what is
 * gone with `terminal:gap`.
 */
import assert from "node:assert/strict";
import { enforceRetention } from "../lib/server/retention.ts";
import {
  AgentProcess,
  echoBarrier,
  outputOf,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

Deno.test("retention: a replay of trimmed output gets terminal:gap, kept output replays whole", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "ret-1");
  try {
    await waitAgentStatus(dash, "ret-1", "online");
    const old = await queueCommand(dash, {
      agentId: "ret-1",
      command: "seq 1 3000",
    });
    const oldFinal = await waitFinal(dash, old);
    const kept = await queueCommand(dash, {
      agentId: "ret-1",
      command: "echo kept",
    });
    await waitFinal(dash, kept);
    const oldSeqs = outputOf(dash, old).seqs;

    // Keep only the newest output: the older command is trimmed.
    const result = await enforceRetention(server.services.storage, {
      maxAgeMs: 3_600_000,
      maxBytes: "kept\n".length,
    });
    assert.equal(result.trimmedCommands, 1);
    assert.equal(result.freedBytes, oldFinal.outputBytes);

    const fresh = await TestClient.dashboard(server, "viewer");
    try {
      fresh.send("terminal:resume", { commandId: old, afterSeq: 0 });
      fresh.send("terminal:resume", { commandId: kept, afterSeq: 0 });
      const gap = await fresh.waitFor((m) => m.type === "terminal:gap");
      assert.deepEqual(gap.payload, {
        agentId: "ret-1",
        commandId: old,
        fromSeq: 1,
        toSeq: oldSeqs[oldSeqs.length - 1],
      });
      await fresh.waitFor((m) =>
        m.type === "terminal:output" && m.payload.commandId === kept
      );
      assert.equal(outputOf(fresh, old).text, "", "no trimmed output is sent");
      assert.equal(outputOf(fresh, kept).text, "kept\n");
    } finally {
      await fresh.close();
    }
  } finally {
    await agent.kill();
    await dash.close();
  }
});

Deno.test("retention: a command finished longer ago than retention is gone from snapshots, pages and replays", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "ret-2");
  try {
    await waitAgentStatus(dash, "ret-2", "online");
    const old = await queueCommand(dash, {
      agentId: "ret-2",
      command: "echo old",
    });
    await waitFinal(dash, old);
    const result = await enforceRetention(server.services.storage, {
      maxAgeMs: 3_600_000,
      maxBytes: 1024 ** 3,
    }, Date.now() + 2 * 3_600_000);
    assert.deepEqual(result, {
      deletedCommands: 1,
      trimmedCommands: 0,
      freedBytes: "old\n".length,
      keptBytes: 0,
    });

    const fresh = await TestClient.dashboard(server, "viewer");
    try {
      await echoBarrier(fresh);
      assert.deepEqual(fresh.of("command:status"), []);
      fresh.send("terminal:resume", { commandId: old, afterSeq: 0 }, "r-1");
      const error = await fresh.waitFor((m) => m.type === "error");
      assert.deepEqual(error.payload, {
        code: "NOT_FOUND",
        message: `Unknown command "${old}"`,
        recoverable: true,
        replyTo: "r-1",
      });
    } finally {
      await fresh.close();
    }
    const page = await fetch(`${server.url}/agents/ret-2`, {
      headers: { authorization: `Bearer ${await server.token("viewer")}` },
    });
    assert.equal(page.status, 200);
    assert.doesNotMatch(await page.text(), /echo old/);
  } finally {
    await agent.kill();
    await dash.close();
  }
});
