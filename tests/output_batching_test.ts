/**
 * Output is stored in batches off the critical path (docs/protocol.md,
 * "Output flow control"): a chunk is broadcast at once, before it is stored,
 * the next chunk does not wait for the previous commit, acks follow the
 * store, and a dashboard resuming while chunks are not stored yet gets them
 * exactly once, with no gap, seamlessly followed by live output.
 *
 * Each commit waits `testAppendDelayMs` first, so "not stored yet" lasts
 * long enough to be observed.
 */
import assert from "node:assert/strict";
import {
  queueCommand,
  RawAgent,
  rawOf,
  startTestServer,
  TestClient,
  waitStatus,
} from "./helpers.ts";

const COMMIT_DELAY_MS = 3000;

Deno.test("output batching: chunks are broadcast before they are stored, a resume meanwhile gets them once with no gap, acks follow the store", async () => {
  await using server = await startTestServer({
    testAppendDelayMs: COMMIT_DELAY_MS,
  });
  await using agent = await RawAgent.connect(server, "b-1");
  const live = await TestClient.dashboard(server);
  let late: TestClient | null = null;
  try {
    const id = await queueCommand(live, { agentId: "b-1", command: "x" });
    await agent.waitFor((m) => m.type === "command:execute");
    agent.send("command:started", { commandId: id, startedAt: Date.now() });
    await waitStatus(live, id, "running");
    const send = (seq: number) =>
      agent.send("terminal:output", {
        commandId: id,
        seq,
        stream: "stdout",
        data: `chunk ${seq}\n`,
      });
    for (let seq = 1; seq <= 3; seq++) send(seq);
    // All three are broadcast while the first commit still waits: none is
    // acknowledged (stored) yet.
    await live.waitFor(
      (m) => m.type === "terminal:output" && m.payload.seq === 3,
      { timeoutMs: 4 * COMMIT_DELAY_MS },
    );
    assert.deepEqual(rawOf(agent.client, "terminal:ack"), []);
    assert.deepEqual(
      live.of("terminal:output").map((p) => [p.seq, p.data]),
      [1, 2, 3].map((seq) => [seq, `chunk ${seq}\n`]),
    );

    // A dashboard that has chunk 1 resumes now: 2 and 3 are not stored yet.
    late = await TestClient.dashboard(server);
    late.send("terminal:resume", { commandId: id, afterSeq: 1 });
    await late.waitFor((m) =>
      m.type === "terminal:output" && m.payload.seq === 3
    );
    assert.deepEqual(rawOf(agent.client, "terminal:ack"), []);
    // Then live output goes on from 4.
    send(4);
    await late.waitFor((m) =>
      m.type === "terminal:output" && m.payload.seq === 4
    );
    assert.deepEqual(
      late.of("terminal:output").map((p) => [p.seq, p.data]),
      [2, 3, 4].map((seq) => [seq, `chunk ${seq}\n`]),
    );
    assert.deepEqual(late.of("terminal:gap"), []);

    // Acks come once stored, in order, up to 4.
    await agent.waitFor(
      (m) => m.type === "terminal:ack" && m.payload.seq === 4,
      6 * COMMIT_DELAY_MS,
    );
    const acks = rawOf(agent.client, "terminal:ack").map((m) =>
      (m.payload as { seq: number }).seq
    );
    assert.deepEqual(acks, [...acks].sort((a, b) => a - b));
    const stored = [];
    for await (
      const chunk of server.services.storage.output.read(id, 0)
    ) stored.push([chunk.seq, chunk.data]);
    assert.deepEqual(
      stored,
      [1, 2, 3, 4].map((seq) => [seq, `chunk ${seq}\n`]),
    );
    assert.deepEqual(live.of("terminal:gap"), []);
    assert.deepEqual(
      live.of("terminal:output").map((p) => p.seq),
      [1, 2, 3, 4],
    );
  } finally {
    await late?.close();
    await live.close();
  }
});

Deno.test("output batching: a recording of a running command includes the chunks sent live and not stored yet, without a trimmed marker", async () => {
  await using server = await startTestServer({
    testAppendDelayMs: COMMIT_DELAY_MS,
  });
  await using agent = await RawAgent.connect(server, "b-2");
  const live = await TestClient.dashboard(server);
  try {
    const id = await queueCommand(live, { agentId: "b-2", command: "x" });
    await agent.waitFor((m) => m.type === "command:execute");
    agent.send("command:started", { commandId: id, startedAt: Date.now() });
    await waitStatus(live, id, "running");
    for (let seq = 1; seq <= 3; seq++) {
      agent.send("terminal:output", {
        commandId: id,
        seq,
        stream: "stdout",
        data: `chunk ${seq}\n`,
      });
    }
    await live.waitFor(
      (m) => m.type === "terminal:output" && m.payload.seq === 3,
      { timeoutMs: 4 * COMMIT_DELAY_MS },
    );
    const response = await fetch(
      `${server.url}/api/commands/${id}/recording?format=txt`,
      { headers: { authorization: `Bearer ${await server.token("viewer")}` } },
    );
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "chunk 1\nchunk 2\nchunk 3\n");
    // None was stored when the download was made.
    assert.deepEqual(rawOf(agent.client, "terminal:ack"), []);
  } finally {
    await live.close();
  }
});
