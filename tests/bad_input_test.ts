/**
 * Bad input on both sockets: each gets the promised `error` or close code,
 * the socket stays usable where promised, and nothing else changes
 * (docs/protocol.md, "Envelope", "Error codes", "Close codes").
 */
import assert from "node:assert/strict";
import { envelope } from "../lib/protocol.ts";
import {
  broadcastBarrier,
  echoBarrier,
  RawAgent,
  type RawMessage,
  rawOf,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitRaw,
} from "./helpers.ts";

/** Agent list without the fields that move on their own. */
async function agentList(server: TestServer) {
  const probe = await TestClient.dashboard(server, "viewer");
  try {
    return probe.of("agent:list")[0].agents.map(({ lastSeenAt: _, ...a }) => a);
  } finally {
    await probe.close();
  }
}

/** Send `frame` and wait for the next `error` at `client`. */
async function errorFor(
  client: TestClient,
  frame: string,
): Promise<RawMessage["payload"]> {
  const from = client.raw.length;
  client.sendRaw(frame);
  const error = await waitRaw(client, (m) => m.type === "error", {
    from,
    timeoutMs: 3000,
  });
  return error.payload;
}

/** The heartbeat still echoes: the socket is open and handling messages. */
async function assertAlive(client: TestClient, sequence: number) {
  const from = client.raw.length;
  client.send("heartbeat", { sequence });
  const echo = await waitRaw(client, (m) => m.type === "heartbeat", {
    from,
    timeoutMs: 3000,
  });
  assert.deepEqual(echo.payload, { sequence });
  assert.equal(client.closed, null);
}

const request = (payload: unknown, overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    ...envelope("command:request", payload, "bad-1"),
    ...overrides,
  });

Deno.test("bad input (dashboard): each invalid message gets its error, the socket stays open, nothing changes", async () => {
  await using server = await startTestServer();
  const agent = await RawAgent.connect(server, "bad-agent");
  const observer = await TestClient.dashboard(server, "viewer");
  const dash = await TestClient.dashboard(server, "operator");
  try {
    await waitAgentStatus(observer, "bad-agent", "online");
    const listBefore = await agentList(server);
    const observerStart = observer.raw.length;
    const dashStart = dash.raw.length;
    const good = { agentId: "bad-agent", command: "echo hi" };

    const cases: {
      name: string;
      frame: string;
      code: string;
      message?: RegExp;
      replyTo?: string;
    }[] = [
      {
        name: "malformed JSON",
        frame: "{not json",
        code: "INVALID_MESSAGE",
      },
      {
        name: "JSON that is not an object",
        frame: "[1,2,3]",
        code: "INVALID_MESSAGE",
      },
      {
        name: "unknown type",
        frame: JSON.stringify(envelope("command:explode", {}, "bad-1")),
        code: "INVALID_MESSAGE",
        message: /command:explode/,
        replyTo: "bad-1",
      },
      {
        name: "missing field",
        frame: request({ command: "echo hi" }),
        code: "INVALID_MESSAGE",
        message: /^Invalid field "payload\.agentId": required$/,
        replyTo: "bad-1",
      },
      {
        name: "wrong type",
        frame: request({ agentId: 42, command: "echo hi" }),
        code: "INVALID_MESSAGE",
        message: /payload\.agentId/,
        replyTo: "bad-1",
      },
      {
        name: "bad priority",
        frame: request({ ...good, priority: "urgent" }),
        code: "INVALID_MESSAGE",
        message: /payload\.priority/,
        replyTo: "bad-1",
      },
      {
        name: "empty command",
        frame: request({ ...good, command: "   " }),
        code: "INVALID_MESSAGE",
        message: /payload\.command/,
        replyTo: "bad-1",
      },
      {
        name: "missing payload",
        frame: JSON.stringify({
          version: "1.0.0",
          type: "heartbeat",
          timestamp: Date.now(),
        }),
        code: "INVALID_MESSAGE",
        message: /payload/,
      },
      {
        name: "envelope id over 64 chars",
        frame: request(good, { id: "x".repeat(65) }),
        code: "INVALID_MESSAGE",
        message: /"id"/,
      },
      {
        name: "command over 16 KiB",
        frame: request({ ...good, command: "e".repeat(16 * 1024 + 1) }),
        code: "PAYLOAD_TOO_LARGE",
        message: /payload\.command/,
        replyTo: "bad-1",
      },
      {
        name: "command over 16 KiB in UTF-8 bytes (5462 × €)",
        frame: request({ ...good, command: "€".repeat(5462) }),
        code: "PAYLOAD_TOO_LARGE",
        message: /payload\.command/,
        replyTo: "bad-1",
      },
      {
        name: "version 2.0.0",
        frame: request(good, { version: "2.0.0" }),
        code: "VERSION_UNSUPPORTED",
        replyTo: "bad-1",
      },
      {
        name: "malformed version",
        frame: request(good, { version: "one" }),
        code: "INVALID_MESSAGE",
        message: /version/,
        replyTo: "bad-1",
      },
    ];
    let sequence = 0;
    for (const c of cases) {
      const error = await errorFor(dash, c.frame);
      assert.equal(error.code, c.code, `${c.name}: ${JSON.stringify(error)}`);
      assert.equal(
        error.recoverable,
        c.code !== "VERSION_UNSUPPORTED",
        c.name,
      );
      assert.equal(typeof error.message, "string", c.name);
      if (c.message) assert.match(error.message, c.message, c.name);
      assert.equal(error.replyTo, c.replyTo, c.name);
      await assertAlive(dash, ++sequence);
    }
    // Exactly one error and one echo per case, nothing else.
    const after = (dash.raw.slice(dashStart) as RawMessage[]).map((m) =>
      m.type
    );
    assert.deepEqual(after, cases.flatMap(() => ["error", "heartbeat"]));

    // A message exactly at the limit still works: 16 KiB command.
    const atLimit = await errorFor(
      dash,
      request({ ...good, agentId: "nobody", command: "e".repeat(16 * 1024) }),
    );
    assert.equal(atLimit.code, "AGENT_OFFLINE");

    // Every answer came: whatever the bad input broadcast has reached the
    // observer before the barrier's marker, and the agent before its echo.
    const marker = await broadcastBarrier(server, observer);
    await echoBarrier(agent.client);
    // Nothing reached the observer, the agent got nothing, the list is unchanged.
    const observed = (observer.raw as RawMessage[]).slice(
      observerStart,
      marker,
    );
    assert.deepEqual(observed.map((m) => m.type), []);
    assert.equal(agent.raw.some((m) => m.type === "command:execute"), false);
    assert.deepEqual(await agentList(server), listBefore);
    assert.deepEqual(
      await server.services.commands.listRecent({ limit: 10 }),
      [],
    );
  } finally {
    await agent.close();
    await observer.close();
    await dash.close();
  }
});

Deno.test("bad input (dashboard): a frame over 1 MiB closes the socket with 1009", async () => {
  await using server = await startTestServer();
  const observer = await TestClient.dashboard(server, "viewer");
  const dash = await TestClient.dashboard(server, "operator");
  try {
    const start = observer.raw.length;
    dash.sendRaw(
      request({ agentId: "a", command: "x" }, {
        padding: "p".repeat(1024 * 1024),
      }),
    );
    const closed = await dash.waitClosed(5000);
    assert.equal(closed.code, 1009);
    assert.equal(rawOf(dash, "error").length, 0);
    const marker = await broadcastBarrier(server, observer);
    assert.deepEqual(observer.raw.slice(start, marker), []);
    await assertAlive(observer, 1);
  } finally {
    await observer.close();
    await dash.close();
  }
});

Deno.test("bad input (agent): a bad token in agent:connect → AUTH_FAILED, 4401", async () => {
  await using server = await startTestServer();
  const observer = await TestClient.dashboard(server, "viewer");
  const agent = await RawAgent.open(server, "bad-token");
  try {
    agent.hello("not.a.token", "bad-token", "hello-1");
    const closed = await agent.client.waitClosed(3000);
    assert.equal(closed.code, 4401);
    const errors = agent.raw.filter((m) => m.type === "error");
    assert.equal(errors.length, 1);
    assert.equal(errors[0].payload.code, "AUTH_FAILED");
    assert.equal(errors[0].payload.recoverable, false);
    assert.equal(agent.raw.some((m) => m.type === "connection:ack"), false);
    await broadcastBarrier(server, observer);
    assert.deepEqual(observer.of("agent:status"), []);
    assert.deepEqual(await agentList(server), []);
  } finally {
    await agent.close();
    await observer.close();
  }
});

Deno.test("bad input (agent): no token at all, or a frame before agent:connect → AUTH_FAILED, 4401", async () => {
  await using server = await startTestServer();
  const silent = await RawAgent.open(server, "no-token");
  const early = await RawAgent.open(server, "early");
  try {
    silent.hello(undefined);
    early.send("heartbeat", { sequence: 1 });
    for (const agent of [silent, early]) {
      const closed = await agent.client.waitClosed(3000);
      assert.equal(closed.code, 4401);
      assert.equal(
        agent.raw.find((m) => m.type === "error")?.payload.code,
        "AUTH_FAILED",
      );
    }
    assert.deepEqual(await agentList(server), []);
  } finally {
    await silent.close();
    await early.close();
  }
});

Deno.test("bad input (agent): a token for agent A registering B → FORBIDDEN, 4403", async () => {
  await using server = await startTestServer();
  const observer = await TestClient.dashboard(server, "viewer");
  const agent = await RawAgent.open(server, "agent-b");
  const operator = await RawAgent.open(server, "agent-c");
  try {
    agent.hello(await server.token("agent", "agent-a"));
    operator.hello(await server.token("operator"));
    for (const raw of [agent, operator]) {
      const closed = await raw.client.waitClosed(3000);
      assert.equal(closed.code, 4403);
      const errors = raw.raw.filter((m) => m.type === "error");
      assert.equal(errors.length, 1);
      assert.equal(errors[0].payload.code, "FORBIDDEN");
      assert.equal(raw.raw.some((m) => m.type === "connection:ack"), false);
    }
    await broadcastBarrier(server, observer);
    assert.deepEqual(observer.of("agent:status"), []);
    assert.deepEqual(await agentList(server), []);
  } finally {
    await agent.close();
    await operator.close();
    await observer.close();
  }
});

Deno.test("bad input (agent): output or completion for an unknown command → NOT_FOUND; invalid frames → INVALID_MESSAGE", async () => {
  await using server = await startTestServer();
  const observer = await TestClient.dashboard(server, "viewer");
  const agent = await RawAgent.connect(server, "nf-1");
  try {
    await waitAgentStatus(observer, "nf-1", "online");
    const start = observer.raw.length;
    const cases: { frame: string; code: string; replyTo?: string }[] = [
      {
        frame: JSON.stringify(envelope("terminal:output", {
          commandId: "no-such-command",
          seq: 1,
          stream: "stdout",
          data: "boo",
        }, "out-1")),
        code: "NOT_FOUND",
        replyTo: "out-1",
      },
      {
        frame: JSON.stringify(envelope("command:started", {
          commandId: "no-such-command",
          startedAt: Date.now(),
        }, "st-1")),
        code: "NOT_FOUND",
        replyTo: "st-1",
      },
      {
        frame: JSON.stringify(envelope("command:completed", {
          commandId: "no-such-command",
          exitCode: 0,
          status: "completed",
          completedAt: Date.now(),
          lastSeq: 0,
        }, "done-1")),
        code: "NOT_FOUND",
        replyTo: "done-1",
      },
      { frame: "}{", code: "INVALID_MESSAGE" },
      {
        frame: JSON.stringify(envelope("command:request", {
          agentId: "nf-1",
          command: "echo no",
        }, "wrong-dir")),
        code: "INVALID_MESSAGE",
        replyTo: "wrong-dir",
      },
      {
        frame: JSON.stringify(envelope("terminal:output", {
          commandId: "x",
          seq: 0,
          stream: "stdout",
          data: "",
        }, "seq-0")),
        code: "INVALID_MESSAGE",
        replyTo: "seq-0",
      },
      {
        frame: JSON.stringify(
          { ...envelope("heartbeat", { sequence: 1 }), version: "2.0.0" },
        ),
        code: "VERSION_UNSUPPORTED",
      },
    ];
    for (const c of cases) {
      const error = await errorFor(agent.client, c.frame);
      assert.equal(error.code, c.code, JSON.stringify(error));
      assert.equal(error.replyTo, c.replyTo);
      assert.equal(agent.client.closed, null);
    }
    const marker = await broadcastBarrier(server, observer);
    const observed = (observer.raw as RawMessage[]).slice(start, marker);
    assert.deepEqual(observed.map((m) => m.type), []);
    assert.deepEqual(server.services.commands.queueOf("nf-1"), []);
    // The server still serves: a new dashboard sees the agent online.
    const probe = await TestClient.dashboard(server, "operator");
    try {
      assert.equal(
        probe.of("agent:list")[0].agents.find((a) => a.id === "nf-1")?.status,
        "online",
      );
    } finally {
      await probe.close();
    }
  } finally {
    await agent.close();
    await observer.close();
  }
});

Deno.test("bad input (agent): a frame over 1 MiB closes the agent socket with 1009 and marks it offline", async () => {
  await using server = await startTestServer();
  const observer = await TestClient.dashboard(server, "viewer");
  const agent = await RawAgent.connect(server, "big-frame");
  try {
    await waitAgentStatus(observer, "big-frame", "online");
    agent.client.sendRaw(JSON.stringify(
      envelope("heartbeat", { sequence: 1, pad: "p".repeat(1024 * 1024) }),
    ));
    const closed = await agent.client.waitClosed(5000);
    assert.equal(closed.code, 1009);
    await waitAgentStatus(observer, "big-frame", "offline", 3000);
  } finally {
    await agent.close();
    await observer.close();
  }
});
