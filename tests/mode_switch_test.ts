/**
 * An agent id that changes mode, through a real server, dashboard and agent
 * processes: exec commands queued while it ran in exec mode are never
 * dispatched into its session when it comes back with `--session` (they stay
 * queued, do not block its prompts and do not stop the session from
 * restarting), and they run once it is back in exec mode. Its `ended` (how
 * its last session ended) does not carry over into exec mode.
 */
import assert from "node:assert/strict";
import type { AgentInfo, CommandInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  echoBarrier,
  queueCommand,
  RawAgent,
  sendOk,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitStatus,
} from "./helpers.ts";

/** The last state of agent `id` that `client` was told. */
function agentOf(client: TestClient, id: string): AgentInfo | undefined {
  let last: AgentInfo | undefined;
  for (const m of client.messages) {
    if (m.type === "agent:list") {
      last = m.payload.agents.find((a) => a.id === id) ?? last;
    } else if (m.type === "agent:status" && m.payload.agent.id === id) {
      last = m.payload.agent;
    }
  }
  return last;
}

/** Session records of `agentId`, by id, latest status, oldest first. */
function sessionsOf(client: TestClient, agentId: string): CommandInfo[] {
  const byId = new Map<string, CommandInfo>();
  for (const { command } of client.of("command:status")) {
    if (command.agentId === agentId && command.kind === "session") {
      byId.set(command.id, command);
    }
  }
  return [...byId.values()].sort((a, b) => a.requestedAt - b.requestedAt);
}

/** The queue of `agentId` as last broadcast (command ids in order). */
function queueOf(client: TestClient, agentId: string): string[] | undefined {
  return client.of("command:queue").filter((q) => q.agentId === agentId)
    .at(-1)?.queue.map((q) => q.commandId);
}

const SHELL = ["--type", "shell", "--cols", "80", "--rows", "24"];

Deno.test({
  name:
    "exec commands queued for an agent now in session mode stay queued: never sent into the session, prompts and restarts go on, they run back in exec mode",
  // The agent processes' output readers end with the processes.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startTestServer();
    const dir = await Deno.makeTempDir({ prefix: "fd-mode-" });
    const dash = await TestClient.dashboard(server, "admin");
    let session: AgentProcess | undefined;
    let exec: AgentProcess | undefined;
    try {
      // Exec mode: c1 is sent to it (it never starts it), c2 waits behind.
      const raw = await RawAgent.connect(server, "m1");
      const c1 = await queueCommand(dash, {
        agentId: "m1",
        command: `echo one > ${dir}/one.txt`,
      });
      await raw.waitFor((m) => m.type === "command:execute");
      const c2 = await queueCommand(dash, {
        agentId: "m1",
        command: `echo two > ${dir}/two.txt`,
      });
      await raw.close();
      await waitAgentStatus(dash, "m1", "offline");

      // The same id in session mode.
      session = await AgentProcess.start(server, "m1", [
        ...SHELL,
        "--session",
        "--",
        "bash",
        "--norc",
        "--noprofile",
        "-i",
      ]);
      await dash.until(() => agentOf(dash, "m1")?.activity === "waiting", {
        what: "the session waits at its prompt",
        timeoutMs: 20_000,
      });
      // A prompt goes by the exec commands queued ahead of it.
      const p1 = await queueCommand(dash, {
        agentId: "m1",
        command: "echo prompt-ran",
      });
      const ranPrompt = await waitStatus(dash, p1, "completed", 20_000);
      assert.equal(ranPrompt.kind, "prompt");
      // The session ends: it can be restarted (nothing exec runs on it).
      const p2 = await queueCommand(dash, { agentId: "m1", command: "exit 0" });
      await waitStatus(dash, p2, "completed", 20_000);
      await dash.until(
        () => sessionsOf(dash, "m1")[0]?.status === "completed",
        {
          what: "the first session ends",
        },
      );
      await sendOk(dash, "session:restart", { agentId: "m1" });
      await dash.until(() => sessionsOf(dash, "m1")[1]?.status === "running", {
        what: "a second session runs",
        timeoutMs: 20_000,
      });
      await echoBarrier(dash);
      // The exec commands were never sent: still queued, in order.
      for (const id of [c1, c2]) {
        assert.deepEqual(
          dash.of("command:status").filter((s) => s.command.id === id)
            .map((s) => s.command.status),
          ["queued"],
          id,
        );
      }
      assert.deepEqual(queueOf(dash, "m1"), [c1, c2]);
      await assert.rejects(Deno.stat(`${dir}/one.txt`), Deno.errors.NotFound);
      await session.kill("SIGTERM");
      session = undefined;
      await waitAgentStatus(dash, "m1", "offline");

      // Back in exec mode: they run, in order.
      const from = dash.messages.length;
      exec = await AgentProcess.start(server, "m1", SHELL);
      await waitStatus(dash, c1, "completed", 20_000);
      await waitStatus(dash, c2, "completed", 20_000);
      assert.equal(await Deno.readTextFile(`${dir}/one.txt`), "one\n");
      assert.equal(await Deno.readTextFile(`${dir}/two.txt`), "two\n");
      // How its last session ended is not an exec agent's state: not even
      // on connect, before a command ran.
      const connected = dash.messages.slice(from).find((m) =>
        m.type === "agent:status" && m.payload.agent.id === "m1" &&
        m.payload.agent.status !== "offline"
      );
      assert.ok(connected?.type === "agent:status");
      assert.deepEqual(connected.payload.agent.capabilities, [
        "shell",
        "interrupt",
      ]);
      assert.equal(connected.payload.agent.ended, undefined);
    } finally {
      await session?.kill("SIGTERM");
      await exec?.kill("SIGTERM");
      await dash.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
