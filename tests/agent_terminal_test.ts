/**
 * The agent side of live terminals, through a real server, a real agent
 * process and dashboards: a `--pty` command is answerable (the controller's
 * `terminal:input` reaches its terminal, `terminal:resize` resizes it), and
 * the agent reports the command's activity read from its screen
 * (`needs-input` with the question while it waits on `read -p`).
 */
import assert from "node:assert/strict";
import type { AgentInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  outputOf,
  queueCommand,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
  waitStatus,
} from "./helpers.ts";
import { labelsSeen, waitLabel } from "./session_agent.ts";

async function withPtyAgent(
  agentId: string,
): Promise<
  {
    server: TestServer;
    agent: AgentProcess;
    [Symbol.asyncDispose](): Promise<void>;
  }
> {
  const server = await startTestServer();
  const agent = await AgentProcess.start(server, agentId, [
    "--pty",
    "--cols",
    "80",
    "--rows",
    "24",
  ]);
  return {
    server,
    agent,
    async [Symbol.asyncDispose]() {
      await agent.kill();
      await server.shutdown();
    },
  };
}

/** `activity` (`activity:attention` with an attention), per change seen. */
function activityLabel(agent: AgentInfo): string {
  const { activity, attention } = agent;
  return attention ? `${activity}:${attention}` : activity!;
}
const activitiesSeen = (client: TestClient, agentId: string) =>
  labelsSeen(client, agentId, activityLabel);
const waitActivity = (client: TestClient, agentId: string, label: string) =>
  waitLabel(client, agentId, label, activityLabel);

Deno.test("a --pty command gets the controller's typing and size, and reports needs-input with its question to every dashboard", async () => {
  await using f = await withPtyAgent("at-1");
  const { server } = f;
  const operator = await TestClient.dashboard(server, "operator");
  const viewer = await TestClient.dashboard(server, "viewer");
  const dir = await Deno.makeTempDir();
  try {
    await waitAgentStatus(operator, "at-1", "online");
    const go = `${dir}/go`;
    const id = await queueCommand(operator, {
      agentId: "at-1",
      command: `read -p "Name? " x; echo "hello $x"; ` +
        `while [ ! -e ${go} ]; do sleep 0.05; done; ` +
        `read -p "Size? " y; stty size`,
    });
    await waitStatus(operator, id, "running");

    // Blocked on read: every dashboard sees needs-input and the question.
    for (const c of [operator, viewer]) {
      await waitActivity(c, "at-1", "needs-input:Name?");
    }
    await takeControl(operator, "at-1");
    await sendOk(operator, "terminal:input", {
      agentId: "at-1",
      data: "Ada\r",
    });
    await operator.until(() => outputOf(operator, id).text.includes("hello"));
    assert.match(outputOf(operator, id).text, /Name\? Ada\r\nhello Ada\r\n/);

    // Answered: working again while it runs without asking.
    for (const c of [operator, viewer]) {
      await waitActivity(c, "at-1", "working");
    }
    await Deno.writeTextFile(go, "");
    for (const c of [operator, viewer]) {
      await waitActivity(c, "at-1", "needs-input:Size?");
    }

    // The resize reaches the PTY before the answer: stty shows the new size.
    await sendOk(operator, "terminal:resize", {
      agentId: "at-1",
      cols: 100,
      rows: 30,
    });
    await sendOk(operator, "terminal:input", { agentId: "at-1", data: "\r" });
    const final = await waitFinal(operator, id);
    assert.deepEqual([final.status, final.exitCode], ["completed", 0]);
    assert.match(outputOf(operator, id).text, /Size\? \r\n30 100\r\n$/);

    // Done: the agent is idle, ready for the next command.
    for (const c of [operator, viewer]) {
      await waitActivity(c, "at-1", "waiting");
      const seen = activitiesSeen(c, "at-1");
      assert.deepEqual(seen.slice(0, 4), [
        "working",
        "needs-input:Name?",
        "working",
        "needs-input:Size?",
      ]);
      // After the last answer it may show working before it ended.
      assert.ok(
        ["working,waiting", "waiting"].includes(seen.slice(4).join()),
        seen.join(),
      );
    }
  } finally {
    await operator.close();
    await viewer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("after a reconnect the agent reports its command's activity again; the answer still reaches it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "fd-activity-" });
  const first = await startTestServer({ dataDir });
  const port = Number(new URL(first.url).port);
  let second: TestServer | undefined;
  const agent = await AgentProcess.start(first, "at-2", ["--pty"]);
  const clients: TestClient[] = [];
  try {
    const before = await TestClient.dashboard(first, "operator");
    clients.push(before);
    await waitAgentStatus(before, "at-2", "online");
    const id = await queueCommand(before, {
      agentId: "at-2",
      command: `read -p "Name? " x; echo "hello $x"`,
    });
    await waitActivity(before, "at-2", "needs-input:Name?");

    // The server goes away and comes back: it knows no activity any more.
    await first.shutdown();
    second = await startTestServer({ port, dataDir });
    const after = await TestClient.dashboard(second, "operator");
    clients.push(after);
    await waitAgentStatus(after, "at-2", "busy");
    await waitActivity(after, "at-2", "needs-input:Name?");

    await takeControl(after, "at-2");
    await sendOk(after, "terminal:input", { agentId: "at-2", data: "Ada\r" });
    const final = await waitFinal(after, id);
    assert.deepEqual([final.status, final.exitCode], ["completed", 0]);
    await waitActivity(after, "at-2", "waiting");
  } finally {
    for (const c of clients) await c.close();
    await agent.kill();
    await first.shutdown().catch(() => {});
    await second?.shutdown();
    await Deno.remove(dataDir, { recursive: true });
  }
});
