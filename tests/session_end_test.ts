/**
 * A session agent whose session ended does not look ready, through a real
 * server, a real agent process (`--type claude --session -- <fake CLI>
 * --exit-after-prompts 1 --exit-code N`) and two dashboards: once the
 * program exits, every dashboard's last `agent:status` has no `activity`
 * (never `waiting`) and says how the session ended in `ended`; a new
 * agent process starts a new session (no end shown while it runs); the end
 * is restored after a server restart; a `session:restart` clears it and the
 * new session reports its activity.
 */
import assert from "node:assert/strict";
import type { AgentInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  echoBarrier,
  queueCommand,
  requestCommand,
  TestClient,
  type TestServer,
  waitFinal,
} from "./helpers.ts";
import {
  startSessionAgent,
  statesOf,
  waitActivity,
  waitSession,
} from "./session_agent.ts";
import { ServerProcess } from "./faults/server_process.ts";

function lastState(client: TestClient, agentId: string): AgentInfo {
  const last = statesOf(client, agentId).at(-1);
  assert.ok(last, `a state of ${agentId}`);
  return last;
}

function startAgent(
  server: ServerProcess,
  id: string,
  cwd: string,
  exitCode: number,
): Promise<AgentProcess> {
  return startSessionAgent(server, id, {
    cwd,
    cliFlags: [
      "--work-ms",
      "300",
      "--exit-after-prompts",
      "1",
      "--exit-code",
      String(exitCode),
    ],
  });
}

Deno.test("a session that ended: every dashboard sees no activity (never waiting) and how it ended, across an agent reconnect and a server restart; a restart clears it", async () => {
  const server = await ServerProcess.start();
  const cwd = await Deno.makeTempDir({ prefix: "fd-end-" });
  let agent = await startAgent(server, "se-1", cwd, 3);
  const clients: TestClient[] = [];
  const dashboard = async () => {
    const client = await TestClient.dashboard(
      server as unknown as TestServer,
      "operator",
    );
    clients.push(client);
    return client;
  };
  try {
    const a = await dashboard();
    const b = await dashboard();
    const session = await waitSession(a, "se-1");
    await waitActivity(a, "se-1", "waiting");
    const prompt = await queueCommand(a, {
      agentId: "se-1",
      command: "last-one",
    });
    // The program exits (code 3) after this turn.
    const ended = await waitFinal(a, session.id);
    assert.deepEqual([ended.status, ended.exitCode], ["failed", 3]);
    assert.equal((await waitFinal(a, prompt)).status, "failed");
    // The prompt is refused: the agent must not look ready either.
    const refused = await requestCommand(a, {
      agentId: "se-1",
      command: "too-late",
    });
    assert.equal(refused.type === "error" && refused.payload.code, "NOT_FOUND");
    const expected = {
      status: "online",
      currentCommandId: null,
      activity: undefined,
      ended: { commandId: session.id, status: "failed", exitCode: 3 },
    };
    const view = (s: AgentInfo) => ({
      status: s.status,
      currentCommandId: s.currentCommandId,
      activity: s.activity,
      ended: s.ended,
    });
    for (const client of [a, b]) {
      await client.until(
        () => lastState(client, "se-1").ended !== undefined,
        { what: "the session's end" },
      );
      await echoBarrier(client);
      assert.deepEqual(view(lastState(client, "se-1")), expected);
      // Not one state with the session ended and its agent waiting.
      assert.deepEqual(
        statesOf(client, "se-1").filter((s) =>
          s.currentCommandId === null && s.status !== "offline" &&
          s.activity !== undefined
        ),
        [],
      );
    }

    // The agent reconnects: it reports no activity again, and the end holds.
    await agent.kill();
    await a.until(() => lastState(a, "se-1").status === "offline", {
      what: "se-1 offline",
    });
    agent = await startSessionAgent(server, "se-1", {
      cwd,
      cliFlags: ["--exit-after-prompts", "1", "--exit-code", "0"],
    });
    // A new agent process asks for a session at once: its end is history.
    const second = await a.until(
      () =>
        a.of("command:status").map((m) => m.command).findLast((c) =>
          c.agentId === "se-1" && c.kind === "session" &&
          c.status === "running" && c.id !== session.id
        ),
      { what: "a second session of se-1" },
    );
    await waitActivity(a, "se-1", "waiting");
    assert.equal(lastState(a, "se-1").ended, undefined);
    assert.equal(lastState(a, "se-1").currentCommandId, second.id);
    const bye = await queueCommand(a, { agentId: "se-1", command: "bye" });
    const secondEnd = await waitFinal(a, second.id);
    assert.deepEqual([secondEnd.status, secondEnd.exitCode], ["completed", 0]);
    await waitFinal(a, bye);
    await a.until(() => lastState(a, "se-1").ended !== undefined, {
      what: "the second session's end",
    });
    assert.deepEqual(view(lastState(a, "se-1")), {
      ...expected,
      ended: { commandId: second.id, status: "completed", exitCode: 0 },
    });

    // A server restart: the end is restored from storage.
    for (const client of clients.splice(0)) await client.close();
    await server.kill("SIGKILL");
    await server.restart();
    const c = await dashboard();
    await c.until(() => lastState(c, "se-1").status === "online", {
      what: "se-1 back online",
    });
    for (const state of statesOf(c, "se-1")) {
      assert.deepEqual(state.ended, {
        commandId: second.id,
        status: "completed",
        exitCode: 0,
      });
    }

    // Restart: the end is cleared, the new session reports its activity.
    c.send("session:restart", { agentId: "se-1" });
    await waitActivity(c, "se-1", "waiting");
    const third = lastState(c, "se-1");
    assert.equal(third.ended, undefined);
    assert.notEqual(third.currentCommandId, null);
    assert.notEqual(third.currentCommandId, second.id);
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await server.dispose();
    await Deno.remove(cwd, { recursive: true });
  }
});
