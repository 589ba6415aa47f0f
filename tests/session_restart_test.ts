/**
 * Restarting sessions through a real server, real agent processes and
 * dashboards: `--restart always` starts an exited program again by itself
 * as a new session record after its backoff; a dashboard's
 * `session:restart` starts an ended session again, and is refused with a
 * clear error for a viewer, an agent not in session mode, a running
 * session, an unknown agent and an offline one.
 */
import assert from "node:assert/strict";
import type { CommandInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  echoBarrier,
  errorReply,
  outputOf,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

/** Every session record of `agentId` `client` was told about, by id, latest status. */
function sessionsOf(client: TestClient, agentId: string): CommandInfo[] {
  const byId = new Map<string, CommandInfo>();
  for (const { command } of client.of("command:status")) {
    if (command.agentId === agentId && command.kind === "session") {
      byId.set(command.id, command);
    }
  }
  return [...byId.values()].sort((a, b) => a.requestedAt - b.requestedAt);
}

/** Send `type`; the code of the error answering it, or null (after an echo). */
async function errorCode(
  client: TestClient,
  type: string,
  payload: unknown,
): Promise<{ code: string; message: string } | null> {
  const error = await errorReply(client, type, payload);
  return error
    ? {
      code: String(error.payload.code),
      message: String(error.payload.message),
    }
    : null;
}

Deno.test("--restart always: an exited session program runs again as a new session record, after at least the 1 s then 2 s backoff", async () => {
  const server = await startTestServer();
  const agent = await AgentProcess.start(server, "rs-always", [
    "--session",
    "--restart",
    "always",
    "--",
    "bash",
    "-c",
    "echo run-$$; exit 3",
  ]);
  const operator = await TestClient.dashboard(server, "operator");
  try {
    const ended = await operator.until(() => {
      const done = sessionsOf(operator, "rs-always").filter((c) =>
        c.status === "failed"
      );
      return done.length >= 3 && done.slice(0, 3);
    }, { what: "three ended sessions of rs-always", timeoutMs: 30_000 });
    assert.equal(new Set(ended.map((c) => c.id)).size, 3);
    for (const session of ended) {
      assert.deepEqual(
        [session.kind, session.status, session.exitCode, session.requestedBy],
        ["session", "failed", 3, "agent:rs-always"],
      );
      assert.match(outputOf(operator, session.id).text, /run-\d+/);
    }
    // Each run started its backoff after the previous one (which started
    // before it ended; the server stamps completedAt when it stores it).
    assert.ok(ended[1].startedAt! - ended[0].startedAt! >= 1000);
    assert.ok(ended[2].startedAt! - ended[1].startedAt! >= 2000);
    assert.match(agent.stderr, /restarting in 1000 ms \(--restart always\)/);
    assert.match(agent.stderr, /restarting in 2000 ms \(--restart always\)/);
    await agent.waitStderr("restarting in 4000 ms (--restart always)");
  } finally {
    await operator.close();
    await agent.kill();
    await server.shutdown();
  }
});

Deno.test("session:restart from a dashboard: refused while running, for viewers, exec agents, unknown and offline agents; an ended session starts again as a new record", async () => {
  const server = await startTestServer();
  // The program prints its terminal size, then exits with the code typed
  // into it.
  const agent = await AgentProcess.start(server, "rs-1", [
    "--cols",
    "100",
    "--rows",
    "30",
    "--session",
    "--",
    "bash",
    "-c",
    'echo "size $(stty size)"; read -p "code? " code; exit "$code"',
  ]);
  const exec = await AgentProcess.start(server, "rs-exec");
  const clients: TestClient[] = [];
  try {
    const operator = await TestClient.dashboard(server, "operator");
    const viewer = await TestClient.dashboard(server, "viewer");
    clients.push(operator, viewer);
    await waitAgentStatus(operator, "rs-exec", "online");
    const first = await operator.until(
      () => sessionsOf(operator, "rs-1").find((c) => c.status === "running"),
      { what: "the first session of rs-1" },
    );
    await operator.until(
      () => outputOf(operator, first.id).text.includes("code?"),
      { what: "the prompt" },
    );

    const running = await errorCode(operator, "session:restart", {
      agentId: "rs-1",
    });
    assert.equal(running?.code, "SESSION_RUNNING");
    assert.match(running!.message, /still running/);
    assert.equal(
      (await errorCode(viewer, "session:restart", { agentId: "rs-1" }))?.code,
      "FORBIDDEN",
    );
    const notSession = await errorCode(operator, "session:restart", {
      agentId: "rs-exec",
    });
    assert.equal(notSession?.code, "NOT_FOUND");
    assert.match(notSession!.message, /not in session mode/);
    assert.equal(
      (await errorCode(operator, "session:restart", { agentId: "nobody" }))
        ?.code,
      "NOT_FOUND",
    );

    assert.match(outputOf(operator, first.id).text, /size 30 100/);
    await takeControl(operator, "rs-1");
    // The controller's size is the one a restarted session starts at.
    await sendOk(operator, "terminal:resize", {
      agentId: "rs-1",
      cols: 70,
      rows: 20,
    });
    await sendOk(operator, "terminal:input", { agentId: "rs-1", data: "4\r" });
    const firstEnd = await waitFinal(operator, first.id);
    assert.deepEqual([firstEnd.status, firstEnd.exitCode], ["failed", 4]);
    await echoBarrier(operator);
    // --restart never (the default): nothing starts by itself.
    assert.deepEqual(sessionsOf(operator, "rs-1").map((c) => c.id), [
      first.id,
    ]);
    // A viewer still may not, after the end either.
    assert.equal(
      (await errorCode(viewer, "session:restart", { agentId: "rs-1" }))?.code,
      "FORBIDDEN",
    );
    await echoBarrier(operator);
    assert.equal(sessionsOf(operator, "rs-1").length, 1);

    await sendOk(operator, "session:restart", { agentId: "rs-1" });
    const second = await operator.until(
      () =>
        sessionsOf(operator, "rs-1").find((c) =>
          c.id !== first.id && c.status === "running"
        ),
      { what: "a second session of rs-1" },
    );
    assert.deepEqual(
      [second.kind, second.requestedBy],
      ["session", "agent:rs-1"],
    );
    // Viewers see it too.
    await viewer.until(
      () => sessionsOf(viewer, "rs-1").some((c) => c.id === second.id),
      { what: "the viewer told of the second session" },
    );
    await operator.until(
      () => outputOf(operator, second.id).text.includes("code?"),
      { what: "the second session's prompt" },
    );
    assert.match(outputOf(operator, second.id).text, /size 20 70/);
    await sendOk(operator, "terminal:input", { agentId: "rs-1", data: "0\r" });
    const secondEnd = await waitFinal(operator, second.id);
    assert.deepEqual([secondEnd.status, secondEnd.exitCode], ["completed", 0]);
    await agent.waitStderr("starting the session again (asked by ");

    await agent.kill();
    await waitAgentStatus(operator, "rs-1", "offline");
    assert.equal(
      (await errorCode(operator, "session:restart", { agentId: "rs-1" }))
        ?.code,
      "AGENT_OFFLINE",
    );
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await exec.kill();
    await server.shutdown();
  }
});

Deno.test("an agent stopped (SIGTERM) while its session prints ends the session interrupted on the server before it closes", async () => {
  const server = await startTestServer();
  // A small window: when it stops, output the server has not acknowledged
  // yet is always in flight, with the completion behind it.
  const agent = await AgentProcess.start(server, "rs-stop", [
    "--max-buffer-bytes",
    "4096",
    "--session",
    "--",
    "bash",
    "-c",
    "while :; do echo tick; done",
  ]);
  const operator = await TestClient.dashboard(server, "operator");
  try {
    const session = await operator.until(
      () => sessionsOf(operator, "rs-stop").find((c) => c.status === "running"),
      { what: "the session of rs-stop" },
    );
    await operator.until(
      () => outputOf(operator, session.id).text.includes("tick"),
      { what: "output flowing" },
    );
    await agent.kill("SIGTERM");
    assert.equal((await agent.status).code, 0);
    const final = await waitFinal(operator, session.id, 10_000);
    assert.equal(final.status, "interrupted");
  } finally {
    await operator.close();
    await agent.kill();
    await server.shutdown();
  }
});
