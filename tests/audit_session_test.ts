/**
 * The audit trail of a live session through a real server and a real
 * session agent: control taken, taken over and released (also by a closed
 * connection), prompts with their text, and raw input as byte counts only.
 */
import assert from "node:assert/strict";
import type { Role } from "../lib/protocol.ts";
import {
  outputOf,
  queueCommand,
  rawOf,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
} from "./helpers.ts";
import { startSessionAgent, waitSession } from "./session_agent.ts";

const AGENT = "audit-session";

async function named(server: TestServer, role: Role, user: string) {
  const token = await server.services.auth.sign({ role, subject: user });
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${token}`,
  });
  await client.opened();
  await client.waitFor((m) => m.type === "agent:list");
  return client;
}

function connectionOf(client: TestClient): string {
  return String(rawOf(client, "connection:ack")[0].payload.connectionId);
}

Deno.test("Session control, prompts and raw input are audited with their actors; input as byte counts, never content", async () => {
  await using server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-audit-session-" });
  const agent = await startSessionAgent(server, AGENT, { cwd });
  const alice = await named(server, "operator", "alice");
  const carol = await named(server, "admin", "carol");
  try {
    const session = await waitSession(alice, AGENT);
    await alice.until(
      () => outputOf(alice, session.id).text.includes("? for shortcuts"),
      { what: "the input box" },
    );
    await takeControl(alice, AGENT);
    await sendOk(alice, "terminal:input", { agentId: AGENT, data: "hello" });
    await sendOk(alice, "terminal:input", { agentId: AGENT, data: "\u00e9" });
    const prompt = await queueCommand(alice, {
      agentId: AGENT,
      command: "write a haiku",
    });
    await takeControl(carol, AGENT);
    await sendOk(carol, "session:control", { agentId: AGENT, take: false });
    await takeControl(carol, AGENT);
    const carolConnection = connectionOf(carol);
    await carol.close();
    await alice.until(
      () => rawOf(alice, "session:controller").at(-1)?.payload.holder === null,
      { what: "control released by the closed connection" },
    );
    await server.services.audit.flush();
    const { entries } = await server.services.audit.store.list({ limit: 100 });
    const a = connectionOf(alice);
    const seen = entries.filter((e) => e.action !== "agent.register")
      .map((e) => ({
        actor: e.actor,
        connectionId: e.connectionId,
        action: e.action,
        target: e.target,
        detail: e.detail,
      }));
    assert.deepEqual(seen, [
      {
        actor: "carol",
        connectionId: carolConnection,
        action: "session.control.release",
        target: { agentId: AGENT },
        detail: { reason: "connection closed" },
      },
      {
        actor: "carol",
        connectionId: carolConnection,
        action: "session.control.take",
        target: { agentId: AGENT },
        detail: undefined,
      },
      {
        actor: "carol",
        connectionId: carolConnection,
        action: "session.control.release",
        target: { agentId: AGENT },
        detail: undefined,
      },
      {
        actor: "carol",
        connectionId: carolConnection,
        action: "session.control.take",
        target: { agentId: AGENT },
        detail: { takenFrom: "alice" },
      },
      {
        actor: "alice",
        connectionId: a,
        action: "terminal.input",
        target: { agentId: AGENT, commandId: session.id },
        detail: { bytes: 7, messages: 2 },
      },
      {
        actor: "alice",
        connectionId: a,
        action: "prompt.send",
        target: { agentId: AGENT, commandId: prompt },
        detail: { text: "write a haiku", priority: "normal" },
      },
      {
        actor: "alice",
        connectionId: a,
        action: "session.control.take",
        target: { agentId: AGENT },
        detail: undefined,
      },
    ]);
    // The typed text itself is nowhere in the trail.
    assert.ok(!JSON.stringify(entries).includes("hello"));
  } finally {
    await alice.close();
    await carol.close();
    await agent.kill();
    await Deno.remove(cwd, { recursive: true });
  }
});
