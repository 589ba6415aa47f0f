/**
 * Every final state of a command, reached for real through a real server,
 * real dashboards signed in as named users and real agent processes, with
 * who ended it, why, and its exit code or signal (docs/protocol.md, "Final
 * states").
 */
import assert from "node:assert/strict";
import type { AgentInfo, CommandInfo, Role } from "../lib/protocol.ts";
import {
  AgentProcess,
  broadcastBarrier,
  echoBarrier,
  outputOf,
  queueCommand,
  startTestServer,
  statusesOf,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
  waitStatus,
} from "./helpers.ts";

/** A dashboard signed in as user `name` with `role`. */
async function dashboardAs(
  server: TestServer,
  name: string,
  role: Role,
): Promise<TestClient> {
  const token = await server.services.auth.sign({ role, subject: name });
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${token}`,
  });
  await client.opened();
  await client.waitFor((m) => m.type === "agent:list");
  await echoBarrier(client);
  return client;
}

/**
 * A command that prints `started` and then sleeps: once `started` arrived,
 * its shell is past its start-up (a login shell reading its profile may
 * outlive an early SIGINT), so an interrupt ends it with SIGINT.
 */
const SLEEPER = "echo started; sleep 30";

/** Wait until `client` received `started` from command `commandId`. */
async function waitStarted(client: TestClient, commandId: string) {
  await client.until(
    () => outputOf(client, commandId).text.includes("started"),
    { timeoutMs: 20_000, what: `output of ${commandId}` },
  );
}

/** The latest `AgentInfo` of agent `id` that `client` received. */
function agentInfo(client: TestClient, id: string): AgentInfo | undefined {
  return client.of("agent:status").map((s) => s.agent).findLast((a) =>
    a.id === id
  );
}

/** The parts of a final record this file checks, for one exact comparison. */
function ending(c: CommandInfo) {
  return {
    status: c.status,
    requestedBy: c.requestedBy,
    endedBy: c.endedBy,
    exitCode: c.exitCode,
    exitSignal: c.exitSignal,
    ran: c.startedAt !== null,
  };
}

const TEST = {
  // The agent processes' stderr readers end with the processes.
  sanitizeOps: false,
  sanitizeResources: false,
};

Deno.test({
  ...TEST,
  name:
    "states: operator alice interrupts bob's running command and cancels his queued one; both name alice, her reason, and the signal",
  async fn() {
    await using server = await startTestServer();
    const alice = await dashboardAs(server, "alice", "operator");
    const bob = await dashboardAs(server, "bob", "operator");
    const agent = await AgentProcess.start(server, "st-1");
    try {
      await waitAgentStatus(bob, "st-1", "online", 20_000);
      const running = await queueCommand(bob, {
        agentId: "st-1",
        command: SLEEPER,
      });
      const queued = await queueCommand(bob, {
        agentId: "st-1",
        command: "echo never",
      });
      await waitStarted(alice, running);
      alice.send("command:interrupt", {
        commandId: queued,
        reason: "not today",
      });
      assert.deepEqual(ending(await waitFinal(bob, queued)), {
        status: "cancelled",
        requestedBy: "bob",
        endedBy: { actor: "alice", role: "operator", reason: "not today" },
        exitCode: null,
        exitSignal: undefined,
        ran: false,
      });
      // No reason given: the server names the user.
      alice.send("command:interrupt", { commandId: running });
      assert.deepEqual(ending(await waitFinal(bob, running, 20_000)), {
        status: "interrupted",
        requestedBy: "bob",
        endedBy: {
          actor: "alice",
          role: "operator",
          reason: "interrupted by alice",
        },
        exitCode: null,
        exitSignal: "SIGINT",
        ran: true,
      });
    } finally {
      await agent.kill();
      await alice.close();
      await bob.close();
    }
  },
});

Deno.test({
  ...TEST,
  name:
    "states: an admin's emergency stop interrupts the running command and cancels the queued ones, naming the admin and the reason",
  async fn() {
    await using server = await startTestServer();
    const ada = await dashboardAs(server, "ada", "admin");
    const bob = await dashboardAs(server, "bob", "operator");
    const agent = await AgentProcess.start(server, "st-2");
    try {
      await waitAgentStatus(bob, "st-2", "online", 20_000);
      const running = await queueCommand(bob, {
        agentId: "st-2",
        command: SLEEPER,
      });
      const queued = await queueCommand(bob, {
        agentId: "st-2",
        command: "echo never",
      });
      await waitStarted(bob, running);
      ada.send("emergency:stop", { reason: "disk full" });
      const by = { actor: "ada", role: "admin", reason: "disk full" };
      assert.deepEqual(ending(await waitFinal(bob, running, 20_000)), {
        status: "interrupted",
        requestedBy: "bob",
        endedBy: by,
        exitCode: null,
        exitSignal: "SIGINT",
        ran: true,
      });
      assert.deepEqual(ending(await waitFinal(bob, queued)), {
        status: "cancelled",
        requestedBy: "bob",
        endedBy: by,
        exitCode: null,
        exitSignal: undefined,
        ran: false,
      });
    } finally {
      await agent.kill();
      await ada.close();
      await bob.close();
    }
  },
});

Deno.test({
  ...TEST,
  name:
    "states: completed and failed carry no endedBy; a process killed by a signal fails with 128+n and names the signal",
  async fn() {
    await using server = await startTestServer();
    const bob = await dashboardAs(server, "bob", "operator");
    const agent = await AgentProcess.start(server, "st-3");
    try {
      await waitAgentStatus(bob, "st-3", "online", 20_000);
      const ok = await queueCommand(bob, { agentId: "st-3", command: "true" });
      const exit = await queueCommand(bob, {
        agentId: "st-3",
        command: "exit 3",
      });
      const killed = await queueCommand(bob, {
        agentId: "st-3",
        command: "kill -TERM $$",
      });
      const base = { requestedBy: "bob", endedBy: undefined, ran: true };
      assert.deepEqual(ending(await waitFinal(bob, ok, 20_000)), {
        ...base,
        status: "completed",
        exitCode: 0,
        exitSignal: undefined,
      });
      assert.deepEqual(ending(await waitFinal(bob, exit, 20_000)), {
        ...base,
        status: "failed",
        exitCode: 3,
        exitSignal: undefined,
      });
      assert.deepEqual(ending(await waitFinal(bob, killed, 20_000)), {
        ...base,
        status: "failed",
        exitCode: 143,
        exitSignal: "SIGTERM",
      });
    } finally {
      await agent.kill();
      await bob.close();
    }
  },
});

Deno.test({
  ...TEST,
  name:
    "states: timeouts from the request's timeoutMs, else the agent's --timeout-ms, else the server's default end timeout, by the server",
  async fn() {
    await using server = await startTestServer({ commandTimeoutMs: 60_000 });
    const bob = await dashboardAs(server, "bob", "operator");
    const plain = await AgentProcess.start(server, "st-4");
    const strict = await AgentProcess.start(server, "st-5", [
      "--timeout-ms",
      "700",
    ]);
    try {
      await waitAgentStatus(bob, "st-4", "online", 20_000);
      await waitAgentStatus(bob, "st-5", "online", 20_000);
      assert.equal(agentInfo(bob, "st-5")?.defaultTimeoutMs, 700);
      assert.equal(agentInfo(bob, "st-4")?.defaultTimeoutMs, undefined);
      const own = await queueCommand(bob, {
        agentId: "st-4",
        command: "sleep 30",
        timeoutMs: 500,
      });
      const inherited = await queueCommand(bob, {
        agentId: "st-5",
        command: "sleep 30",
      });
      const server_ = await queueCommand(bob, {
        agentId: "st-4",
        command: "true",
      });
      const timedOut = (reason: string, exitSignal: string | undefined) => ({
        status: "timeout",
        requestedBy: "bob",
        endedBy: { actor: "server", role: "system", reason },
        exitCode: null,
        exitSignal,
        ran: true,
      });
      // SIGINT, or SIGTERM after the grace when the timer fired while the
      // login shell was still starting (it outlives an early SIGINT).
      const signalled = (c: CommandInfo) =>
        ["SIGINT", "SIGTERM"].includes(c.exitSignal ?? "")
          ? c.exitSignal
          : "SIGINT or SIGTERM";
      const first = await waitFinal(bob, own, 20_000);
      assert.deepEqual(
        ending(first),
        timedOut("timed out after 500 ms", signalled(first)),
      );
      assert.equal(first.timeoutMs, 500);
      assert.ok(first.completedAt! - first.startedAt! >= 500);
      const second = await waitFinal(bob, inherited, 20_000);
      assert.deepEqual(
        ending(second),
        timedOut("timed out after 700 ms", signalled(second)),
      );
      assert.equal(second.timeoutMs, 700);
      const third = await waitFinal(bob, server_, 20_000);
      assert.deepEqual([third.status, third.timeoutMs], ["completed", 60_000]);
    } finally {
      await plain.kill();
      await strict.kill();
      await bob.close();
    }
  },
});

Deno.test({
  ...TEST,
  name:
    "states: a running command of an agent killed with SIGKILL ends lost, by the server, once lostAfterMs passed without it",
  async fn() {
    await using server = await startTestServer({ lostAfterMs: 1_000 });
    const bob = await dashboardAs(server, "bob", "operator");
    let agent: AgentProcess | undefined = await AgentProcess.start(
      server,
      "st-6",
    );
    try {
      await waitAgentStatus(bob, "st-6", "online", 20_000);
      const running = await queueCommand(bob, {
        agentId: "st-6",
        command: "sleep 3",
      });
      await waitStatus(bob, running, "running", 20_000);
      await agent.kill("SIGKILL");
      agent = undefined;
      await waitAgentStatus(bob, "st-6", "offline", 20_000);
      const offline = agentInfo(bob, "st-6")!;
      const final = await waitFinal(bob, running, 20_000);
      assert.deepEqual(ending(final), {
        status: "lost",
        requestedBy: "bob",
        endedBy: {
          actor: "server",
          role: "system",
          reason: "the agent went offline and was not back within 1 s",
        },
        exitCode: null,
        exitSignal: undefined,
        ran: true,
      });
      assert.ok(final.completedAt! - offline.lastSeenAt >= 1_000);
      await broadcastBarrier(server, bob);
      assert.deepEqual(
        statusesOf(bob, running).map((s) => s.command.status),
        ["queued", "running", "lost"],
      );
    } finally {
      await agent?.kill();
      await bob.close();
    }
  },
});

Deno.test({
  ...TEST,
  name:
    "states: an agent stopped with SIGTERM interrupts its command itself; endedBy names the agent and its reason",
  async fn() {
    await using server = await startTestServer();
    const bob = await dashboardAs(server, "bob", "operator");
    const agent = await AgentProcess.start(server, "st-7");
    try {
      await waitAgentStatus(bob, "st-7", "online", 20_000);
      const running = await queueCommand(bob, {
        agentId: "st-7",
        command: SLEEPER,
      });
      await waitStarted(bob, running);
      await agent.kill("SIGTERM");
      assert.deepEqual(ending(await waitFinal(bob, running, 20_000)), {
        status: "interrupted",
        requestedBy: "bob",
        endedBy: { actor: "st-7", role: "agent", reason: "agent stopping" },
        exitCode: null,
        exitSignal: "SIGINT",
        ran: true,
      });
    } finally {
      await agent.kill();
      await bob.close();
    }
  },
});
