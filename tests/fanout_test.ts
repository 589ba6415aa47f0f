/**
 * Fan-out to several dashboards, agent loss and agent replacement
 * (docs/protocol.md, "Server → dashboard", "Agent → server", close 4409).
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  broadcastBarrier,
  echoBarrier,
  queueCommand,
  RawAgent,
  startTestServer,
  statusesOf,
  TestClient,
  waitAgentStatus,
  waitFinal,
  withTimeout,
} from "./helpers.ts";

Deno.test("fanout: two dashboards receive identical ordered streams", async () => {
  await using server = await startTestServer();
  const one = await TestClient.dashboard(server, "operator");
  const two = await TestClient.dashboard(server, "viewer");
  const agent = await AgentProcess.start(server, "fan-1");
  try {
    await waitAgentStatus(one, "fan-1", "online");
    await waitAgentStatus(two, "fan-1", "online");
    const id = await queueCommand(one, {
      agentId: "fan-1",
      command:
        'for i in $(seq 1 40); do echo "out $i é"; echo "err $i" >&2; sleep 0.005; done; seq 1 20000',
    });
    await waitFinal(one, id, 20_000);
    await waitFinal(two, id, 20_000);
    const stream = (c: TestClient) =>
      c.of("terminal:output").filter((o) => o.commandId === id);
    const a = stream(one);
    const b = stream(two);
    assert.ok(a.length > 10, `only ${a.length} chunks`);
    assert.deepEqual(b, a);
    assert.deepEqual(a.map((o) => o.seq), a.map((_, i) => i + 1));
    const statuses = (c: TestClient) => statusesOf(c, id).map((s) => s.command);
    assert.deepEqual(statuses(two), statuses(one));
    assert.deepEqual(statuses(one).map((s) => s.status), [
      "queued",
      "running",
      "completed",
    ]);
    // Whole-stream order for this command: same at both.
    const order = (c: TestClient) =>
      c.messages.filter((m) =>
        (m.type === "terminal:output" && m.payload.commandId === id) ||
        (m.type === "command:status" && m.payload.command.id === id)
      ).map((m) =>
        m.type === "terminal:output"
          ? `out:${m.payload.seq}`
          : m.type === "command:status"
          ? `status:${m.payload.command.status}`
          : ""
      );
    assert.deepEqual(order(two), order(one));
  } finally {
    await agent.kill();
    await one.close();
    await two.close();
  }
});

Deno.test("fanout: an agent killed with SIGKILL is offline at every dashboard within 5 s", async () => {
  await using server = await startTestServer();
  const dashboards = [
    await TestClient.dashboard(server, "operator"),
    await TestClient.dashboard(server, "viewer"),
    await TestClient.dashboard(server, "admin"),
  ];
  const agent = await AgentProcess.start(server, "kill-1");
  try {
    for (const d of dashboards) await waitAgentStatus(d, "kill-1", "online");
    const killed = Date.now();
    await agent.kill("SIGKILL");
    const elapsed = await Promise.all(dashboards.map(async (d) => {
      await waitAgentStatus(d, "kill-1", "offline", 6000);
      return Date.now() - killed;
    }));
    for (const ms of elapsed) assert.ok(ms < 5000, `offline after ${ms} ms`);
    for (const d of dashboards) {
      const last = d.of("agent:status").filter((s) => s.agent.id === "kill-1")
        .at(-1)!;
      assert.equal(last.agent.status, "offline");
      assert.equal(last.agent.currentCommandId, null);
    }
  } finally {
    await agent.kill();
    for (const d of dashboards) await d.close();
  }
});

Deno.test("fanout: an agent reconnecting with the same id replaces the old socket (4409)", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const first = await RawAgent.connect(server, "twin-1", { name: "first" });
  let second: RawAgent | undefined;
  try {
    await waitAgentStatus(dash, "twin-1", "online");
    second = await RawAgent.connect(server, "twin-1", { name: "second" });
    const closed = await first.client.waitClosed(3000);
    assert.equal(closed.code, 4409);
    assert.equal(second.client.closed, null);
    // Commands go to the new socket.
    const id = await queueCommand(dash, { agentId: "twin-1", command: "x" });
    await second.waitFor((m) =>
      m.type === "command:execute" && m.payload.command.id === id
    );
    assert.equal(
      first.raw.some((m) => m.type === "command:execute"),
      false,
    );
    // The server has handled the replaced socket's close by now (a command
    // round trip later); every agent:status it broadcast is in.
    await echoBarrier(second.client);
    await broadcastBarrier(server, dash);
    const statuses = dash.of("agent:status").filter((s) =>
      s.agent.id === "twin-1"
    );
    // Connected twice; the replaced socket closing does not mark it offline;
    // the new one took the command.
    assert.deepEqual(statuses.map((s) => [s.agent.name, s.agent.status]), [
      ["first", "online"],
      ["second", "online"],
      ["second", "busy"],
    ]);
  } finally {
    await first.close();
    await second?.close();
    await dash.close();
  }
});

Deno.test("fanout: a real agent replaced by another socket exits with code 4", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "twin-2");
  let raw: RawAgent | undefined;
  try {
    await waitAgentStatus(dash, "twin-2", "online");
    raw = await RawAgent.connect(server, "twin-2", { name: "impostor" });
    const status = await withTimeout(agent.status, 5000, "agent exit");
    assert.equal(status.code, 4);
    assert.match(agent.stderr, /4409/);
    // A round trip on the new socket, then every broadcast so far.
    await echoBarrier(raw.client);
    await broadcastBarrier(server, dash);
    const last = dash.of("agent:status").filter((s) => s.agent.id === "twin-2")
      .at(-1)!;
    assert.equal(last.agent.status, "online");
    assert.equal(last.agent.name, "impostor");
  } finally {
    await agent.kill();
    await raw?.close();
    await dash.close();
  }
});
