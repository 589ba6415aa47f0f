/**
 * An admin forgets an offline agent (`agent:forget`, `DELETE /api/agents/:id`):
 * its unfinished commands are settled, every dashboard gets `agent:removed`,
 * and it is gone from the registry and from storage. Connected agents,
 * unknown agents and non-admins are refused with a clear error and nothing
 * changes.
 */
import assert from "node:assert/strict";
import {
  broadcastBarrier,
  queueCommand,
  RawAgent,
  rawOf,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitRaw,
  waitStatus,
} from "./helpers.ts";

async function forget(client: TestClient, agentId: string, id: string) {
  const from = client.raw.length;
  client.send("agent:forget", { agentId }, id);
  return await waitRaw(
    client,
    (m) =>
      (m.type === "error" && m.payload.replyTo === id) ||
      (m.type === "agent:removed" && m.payload.agentId === agentId),
    { from },
  );
}

function api(server: TestServer, path: string, token: string) {
  return fetch(`${server.url}${path}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${token}` },
  });
}

Deno.test("forget: an admin forgets an offline agent; its commands are settled and every dashboard drops it", async () => {
  await using server = await startTestServer();
  const admin = await TestClient.dashboard(server, "admin");
  const viewer = await TestClient.dashboard(server, "viewer");
  const agent = await RawAgent.connect(server, "fg-1");
  try {
    await waitAgentStatus(admin, "fg-1", "online");
    const running = await queueCommand(admin, {
      agentId: "fg-1",
      command: "sleep 100",
    });
    await agent.waitFor((m) => m.type === "command:execute");
    agent.send("command:started", { commandId: running, startedAt: 1 });
    await waitStatus(admin, running, "running");
    const queued = await queueCommand(admin, {
      agentId: "fg-1",
      command: "echo later",
    });
    await agent.close();
    await waitAgentStatus(admin, "fg-1", "offline");

    const reply = await forget(admin, "fg-1", "f-1");
    assert.equal(reply.type, "agent:removed");
    assert.deepEqual(reply.payload, { agentId: "fg-1" });
    await waitRaw(viewer, (m) => m.type === "agent:removed");
    // Settled before the removal, so no dashboard shows them unfinished.
    const by = { actor: "admin", role: "admin", reason: "agent forgotten" };
    for (const [id, end] of [[running, "interrupted"], [queued, "cancelled"]]) {
      const status = await waitStatus(viewer, id, end);
      assert.equal(status.agentId, "fg-1");
      assert.deepEqual(status.endedBy, by);
    }
    assert.equal(server.services.registry.get("fg-1"), undefined);
    assert.deepEqual(
      (await server.services.storage.loadAgents()).map((a) => a.id),
      [],
    );
    const list = await (await fetch(`${server.url}/api/agents`, {
      headers: { authorization: `Bearer ${await server.token("viewer")}` },
    })).json();
    assert.deepEqual(list, { agents: [] });
    const fresh = await TestClient.dashboard(server, "viewer");
    try {
      assert.deepEqual(fresh.of("agent:list")[0].agents, []);
    } finally {
      await fresh.close();
    }
    // The history stays (under retention).
    assert.equal(
      (await server.services.commands.get(running))?.status,
      "interrupted",
    );
  } finally {
    await agent.close();
    await viewer.close();
    await admin.close();
  }
});

Deno.test("forget: a connected agent, an unknown agent and a non-admin are refused and nothing changes", async () => {
  await using server = await startTestServer();
  const admin = await TestClient.dashboard(server, "admin");
  const operator = await TestClient.dashboard(server, "operator");
  const agent = await RawAgent.connect(server, "fg-2");
  try {
    await waitAgentStatus(admin, "fg-2", "online");
    const online = await forget(admin, "fg-2", "f-online");
    assert.deepEqual(online.payload, {
      code: "AGENT_ONLINE",
      message: 'Agent "fg-2" is connected; stop it before forgetting it',
      recoverable: true,
      replyTo: "f-online",
    });
    const unknown = await forget(admin, "nobody", "f-unknown");
    assert.deepEqual(unknown.payload, {
      code: "NOT_FOUND",
      message: 'Unknown agent "nobody"',
      recoverable: true,
      replyTo: "f-unknown",
    });
    await agent.close();
    await waitAgentStatus(admin, "fg-2", "offline");
    const denied = await forget(operator, "fg-2", "f-operator");
    assert.deepEqual(denied.payload, {
      code: "FORBIDDEN",
      message: 'Role "operator" may not forget agents; it needs "admin"',
      recoverable: true,
      replyTo: "f-operator",
    });
    assert.equal(server.services.registry.get("fg-2")?.status, "offline");
    assert.equal(
      (await server.services.storage.loadAgents()).some((a) => a.id === "fg-2"),
      true,
    );
    for (const client of [admin, operator]) {
      // Every broadcast sent before this point has arrived.
      await broadcastBarrier(server, client);
      assert.deepEqual(rawOf(client, "agent:removed"), []);
    }
  } finally {
    await agent.close();
    await operator.close();
    await admin.close();
  }
});

Deno.test("forget: DELETE /api/agents/:id forgets an offline agent for an admin only", async () => {
  await using server = await startTestServer();
  const watcher = await TestClient.dashboard(server, "viewer");
  const agent = await RawAgent.connect(server, "fg-3");
  try {
    await waitAgentStatus(watcher, "fg-3", "online");
    const admin = await server.token("admin");
    const online = await api(server, "/api/agents/fg-3", admin);
    assert.equal(online.status, 409);
    assert.equal((await online.json()).error.code, "AGENT_ONLINE");
    await agent.close();
    await waitAgentStatus(watcher, "fg-3", "offline");

    const operator = await api(
      server,
      "/api/agents/fg-3",
      await server.token("operator"),
    );
    assert.equal(operator.status, 403);
    assert.deepEqual(await operator.json(), {
      error: {
        code: "FORBIDDEN",
        message: 'Role "operator" may not forget agents; it needs "admin"',
        recoverable: true,
      },
    });
    assert.equal(server.services.registry.get("fg-3")?.status, "offline");

    const done = await api(server, "/api/agents/fg-3", admin);
    assert.equal(done.status, 200);
    assert.deepEqual(await done.json(), { forgotten: "fg-3" });
    await waitRaw(
      watcher,
      (m) => m.type === "agent:removed" && m.payload.agentId === "fg-3",
    );
    const again = await api(server, "/api/agents/fg-3", admin);
    assert.equal(again.status, 404);
    assert.equal((await again.json()).error.code, "NOT_FOUND");
  } finally {
    await agent.close();
    await watcher.close();
  }
});

Deno.test("forget: an agent that reconnects while it is being forgotten is turned away (1001) until the forget is done, and nothing is half done", async () => {
  await using server = await startTestServer();
  const admin = await TestClient.dashboard(server, "admin");
  const first = await RawAgent.connect(server, "fg-race");
  await waitAgentStatus(admin, "fg-race", "online");
  const queued = await queueCommand(admin, {
    agentId: "fg-race",
    command: "echo later",
  });
  await first.waitFor((m) => m.type === "command:execute");
  await first.close();
  await waitAgentStatus(admin, "fg-race", "offline");
  // Hold the forget at its last storage step (fault injection on the real
  // storage object), so the reconnect lands in the middle of it.
  const storage = server.services.storage;
  const deleteAgent = storage.deleteAgent.bind(storage);
  const { promise: reached, resolve: reach } = Promise.withResolvers<void>();
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  storage.deleteAgent = async (id: string) => {
    reach();
    await gate;
    return await deleteAgent(id);
  };
  try {
    const done = forget(admin, "fg-race", "race-1");
    await reached;
    assert.equal(server.services.commands.isForgetting("fg-race"), true);
    const again = await RawAgent.open(server, "fg-race");
    again.hello(await server.token("agent", "fg-race"));
    const closed = await again.client.waitClosed(5000);
    assert.equal(closed.code, 1001);
    assert.equal(
      rawOf(again.client, "connection:ack").length,
      0,
      "not registered",
    );
    open();
    const answer = await done;
    assert.equal(answer.type, "agent:removed");
    assert.equal(server.services.registry.get("fg-race"), undefined);
    const final = rawOf(admin, "command:status").filter((s) =>
      s.payload.command.id === queued
    ).at(-1);
    assert.equal(final?.payload.command.status, "cancelled");
    // Once forgotten, the agent may connect again as a new one.
    const back = await RawAgent.connect(server, "fg-race");
    await waitAgentStatus(admin, "fg-race", "online");
    await back.close();
  } finally {
    open();
    storage.deleteAgent = deleteAgent;
    await admin.close();
  }
});
