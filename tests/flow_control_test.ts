/**
 * Agent output flow control, server side (docs/protocol.md, "Output flow
 * control"): the window is advertised in the agent's `connection:ack`, acks
 * follow storage, and an agent that ignores the window is closed with
 * RATE_LIMIT / 4429 instead of growing the server's memory.
 */
import assert from "node:assert/strict";
import { envelope } from "../lib/protocol.ts";
import {
  queueCommand,
  RawAgent,
  rawOf,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitStatus,
} from "./helpers.ts";
import { waitUntil } from "./faults/dashboard.ts";

const KIB = 1024;
const WINDOW = 256 * KIB;

Deno.test("flow control: the agent's connection:ack names the output window", async () => {
  await using server = await startTestServer({
    agentOutputWindowBytes: WINDOW,
  });
  await using agent = await RawAgent.connect(server, "w-1");
  const [ack] = rawOf(agent.client, "connection:ack");
  assert.equal(ack.payload.outputWindowBytes, WINDOW);
  assert.equal(ack.payload.agentId, "w-1");
});

Deno.test("flow control: output is acknowledged only once stored, in order", async () => {
  await using server = await startTestServer({ testAppendDelayMs: 20 });
  await using agent = await RawAgent.connect(server, "w-2");
  const dashboard = await TestClient.dashboard(server);
  try {
    const id = await queueCommand(dashboard, { agentId: "w-2", command: "x" });
    await agent.waitFor((m) => m.type === "command:execute");
    agent.send("command:started", { commandId: id, startedAt: Date.now() });
    // What the server has stored when each ack arrives.
    const storedAtAck: number[] = [];
    agent.client.socket.addEventListener("message", (event) => {
      if (JSON.parse(String(event.data)).type === "terminal:ack") {
        storedAtAck.push(
          server.services.commands.outputLog.storedSeq(id) ?? 0,
        );
      }
    });
    for (let seq = 1; seq <= 3; seq++) {
      agent.send("terminal:output", {
        commandId: id,
        seq,
        stream: "stdout",
        data: `chunk ${seq}\n`,
      });
    }
    await agent.waitFor((m) =>
      m.type === "terminal:ack" && m.payload.seq === 3
    );
    assert.deepEqual(
      rawOf(agent.client, "terminal:ack").map((m) => m.payload),
      [1, 2, 3].map((seq) => ({ commandId: id, seq })),
    );
    // Each ack comes once its seq is stored (chunks 2 and 3 may be stored
    // in one commit).
    assert.equal(storedAtAck.length, 3);
    storedAtAck.forEach((stored, i) =>
      assert.ok(stored >= i + 1, `ack ${i + 1} sent with ${stored} stored`)
    );
    // Every acknowledged chunk is in storage.
    const stored = [];
    for await (const chunk of server.services.commands.readOutput(id, 0)) {
      stored.push(chunk.data);
    }
    assert.deepEqual(stored, ["chunk 1\n", "chunk 2\n", "chunk 3\n"]);
  } finally {
    await dashboard.close();
  }
});

Deno.test("flow control: an agent that ignores the window gets RATE_LIMIT and 4429; the server keeps serving", async () => {
  const maxFrameBytes = 64 * KIB;
  await using server = await startTestServer({
    agentOutputWindowBytes: WINDOW,
    maxFrameBytes,
    // A slow store: the first append is still pending while the flood
    // arrives, so everything behind it is backlog.
    testAppendDelayMs: 1000,
  });
  // No heartbeats: the frames counted below are all the socket carries.
  const agent = await RawAgent.open(server, "w-3");
  agent.hello(await server.token("agent", "w-3"));
  await agent.waitFor((m) => m.type === "connection:ack");
  const dashboard = await TestClient.dashboard(server);
  try {
    const id = await queueCommand(dashboard, { agentId: "w-3", command: "x" });
    await agent.waitFor((m) => m.type === "command:execute");
    agent.send("command:started", { commandId: id, startedAt: Date.now() });
    await waitStatus(dashboard, id, "running");
    // Send, without waiting for acks, until the frames exceed the limit (the
    // window plus two frames: 384 KiB here); the last one crosses it.
    const limit = WINDOW + 2 * maxFrameBytes;
    let sentBytes = 0;
    let seq = 0;
    while (sentBytes <= limit) {
      const frame = JSON.stringify(envelope("terminal:output", {
        commandId: id,
        seq: ++seq,
        stream: "stdout",
        data: "y".repeat(16 * KIB),
      }));
      agent.client.sendRaw(frame);
      sentBytes += frame.length;
    }
    const closed = await agent.client.waitClosed(20_000);
    assert.deepEqual(closed, { code: 4429, reason: "Backlog over its limit" });
    assert.deepEqual(rawOf(agent.client, "error").map((m) => m.payload), [{
      code: "RATE_LIMIT",
      message: `Over ${limit} bytes received and not yet handled`,
      recoverable: true,
    }]);
    assert.deepEqual(rawOf(agent.client, "terminal:ack"), []);
    // The agent is offline at once; the server still answers.
    await waitAgentStatus(dashboard, "w-3", "offline");
    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    // What was handled (within the limit, broadcast) is stored; the rest
    // was dropped with the socket.
    const handled = server.services.commands.broadcastSeq(id);
    assert.ok(handled >= 1 && handled < seq, `${handled} of ${seq} handled`);
    await waitUntil(
      () => server.services.commands.outputLog.storedSeq(id) === handled,
      10_000,
      "the handled chunks stored",
    );
  } finally {
    await agent.close();
    await dashboard.close();
  }
});

Deno.test("flow control: output refused for good (no such command) is answered and acknowledged, freeing the window", async () => {
  await using server = await startTestServer();
  await using agent = await RawAgent.connect(server, "w-4");
  agent.send("terminal:output", {
    commandId: "nope",
    seq: 7,
    stream: "stdout",
    data: "lost",
  }, "m1");
  const ackMessage = await agent.waitFor((m) => m.type === "terminal:ack");
  assert.deepEqual(ackMessage.payload, { commandId: "nope", seq: 7 });
  assert.deepEqual(rawOf(agent.client, "error").map((m) => m.payload), [{
    code: "NOT_FOUND",
    message: 'Command "nope" is not running on agent "w-4"',
    recoverable: true,
    replyTo: "m1",
  }]);
  const stored = [];
  for await (const chunk of server.services.commands.readOutput("nope", 0)) {
    stored.push(chunk);
  }
  assert.deepEqual(stored, []);
});
