/**
 * Screen snapshots through a real server, a raw agent socket (it chooses
 * every seq) and dashboards: the server keeps the agent's newest snapshot
 * of a running command and answers `terminal:resume { snapshot: true }`
 * with it and exactly the chunks after it, then live output, with no chunk
 * twice and none missing, also while output keeps arriving during the
 * replay; a snapshot ahead of the stored output or of another agent's
 * command is refused; small commands and finished ones replay whole; and
 * `terminal:earlier` pages back through stored output.
 */
import assert from "node:assert/strict";
import {
  broadcastBarrier,
  echoBarrier,
  queueCommand,
  RawAgent,
  rawOf,
  received,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitRaw,
} from "./helpers.ts";

/** A command running on a raw agent, with helpers to produce its output. */
async function runningCommand(server: TestServer, agentId: string) {
  const agent = await RawAgent.connect(server, agentId);
  const operator = await TestClient.dashboard(server, "operator");
  await waitAgentStatus(operator, agentId, "online");
  const commandId = await queueCommand(operator, { agentId, command: "tui" });
  await agent.waitFor((m) => m.type === "command:execute");
  agent.send("command:started", { commandId, startedAt: Date.now() });
  let sequence = 0;
  /** Wait until the agent's earlier messages were all handled. */
  const handled = async () => {
    const mine = ++sequence + 1_000_000;
    agent.send("heartbeat", { sequence: mine });
    await agent.waitFor((m) =>
      m.type === "heartbeat" && m.payload.sequence === mine
    );
  };
  /** Send chunks `seqs` and wait until they are stored (acknowledged). */
  const output = async (seqs: number[], data = (seq: number) => `${seq};`) => {
    for (const seq of seqs) {
      agent.send("terminal:output", {
        commandId,
        seq,
        stream: "pty",
        data: data(seq),
      });
    }
    await agent.waitFor((m) =>
      m.type === "terminal:ack" && m.payload.commandId === commandId &&
      m.payload.seq === seqs.at(-1)
    );
  };
  const snapshot = (seq: number, id?: string) =>
    agent.send("terminal:snapshot", {
      commandId,
      seq,
      cols: 80,
      rows: 24,
      data: `[screen ${seq}]`,
    }, id);
  return { agent, operator, commandId, handled, output, snapshot };
}

/** Send `terminal:resume` and wait until chunk `lastSeq` arrived. */
async function resume(
  client: TestClient,
  payload: { commandId: string; afterSeq: number; snapshot?: boolean },
  lastSeq: number,
): Promise<string[]> {
  const from = client.raw.length;
  client.send("terminal:resume", payload);
  await waitRaw(
    client,
    (m) =>
      m.type === "terminal:output" &&
      m.payload.commandId === payload.commandId && m.payload.seq === lastSeq,
    { from },
  );
  await echoBarrier(client);
  return received(client, payload.commandId, from);
}

Deno.test("terminal:resume with snapshot: the screen, exactly the chunks after it, then live output once", async () => {
  await using server = await startTestServer({ snapshotMinBytes: 0 });
  const run = await runningCommand(server, "snap-1");
  const { agent, operator, commandId, handled, output, snapshot } = run;
  const clients = [operator];
  try {
    await output([1, 2, 3, 4, 5]);
    snapshot(3);
    await handled();

    const late = await TestClient.dashboard(server, "viewer");
    clients.push(late);
    assert.deepEqual(
      await resume(late, { commandId, afterSeq: 0, snapshot: true }, 5),
      ["screen 3", "4", "5"],
    );
    const screen = rawOf(late, "terminal:snapshot")[0].payload;
    assert.deepEqual(screen, {
      agentId: "snap-1",
      commandId,
      seq: 3,
      cols: 80,
      rows: 24,
      data: "[screen 3]",
    });
    // Live output after it reaches the late joiner once.
    const from = late.raw.length;
    await output([6]);
    await broadcastBarrier(server, late);
    assert.deepEqual(received(late, commandId, from), ["6"]);

    // Without `snapshot`, or asked from past the screen: plain replays.
    assert.deepEqual(
      await resume(late, { commandId, afterSeq: 0 }, 6),
      ["1", "2", "3", "4", "5", "6"],
    );
    assert.deepEqual(
      await resume(late, { commandId, afterSeq: 4, snapshot: true }, 6),
      ["5", "6"],
    );

    // A snapshot ahead of the stored output is refused and changes nothing;
    // an older one than kept is ignored.
    snapshot(9, "ahead");
    snapshot(2);
    await handled();
    const refused = agent.raw.find((m) =>
      m.type === "error" && m.payload.replyTo === "ahead"
    );
    assert.equal(refused?.payload.code, "INVALID_MESSAGE");
    assert.match(refused?.payload.message, /covers seq 9, only 6 stored/);
    assert.deepEqual(
      await resume(late, { commandId, afterSeq: 0, snapshot: true }, 6),
      ["screen 3", "4", "5", "6"],
    );
    // A newer one replaces it.
    snapshot(6);
    await handled();
    const from2 = late.raw.length;
    late.send("terminal:resume", { commandId, afterSeq: 0, snapshot: true });
    await waitRaw(late, (m) => m.type === "terminal:snapshot", { from: from2 });
    await echoBarrier(late);
    assert.deepEqual(received(late, commandId, from2), ["screen 6"]);

    // Once the command ended its snapshot is gone: a whole replay.
    agent.send("command:completed", {
      commandId,
      exitCode: 0,
      status: "completed",
      completedAt: Date.now(),
      lastSeq: 6,
    });
    await agent.waitFor((m) =>
      m.type === "terminal:ack" && m.payload.completed === true
    );
    assert.deepEqual(
      await resume(late, { commandId, afterSeq: 0, snapshot: true }, 6),
      ["1", "2", "3", "4", "5", "6"],
    );
  } finally {
    for (const c of clients) await c.close();
    await agent.close();
  }
});

Deno.test("output arriving while a snapshot's replay is read is neither lost nor duplicated", async () => {
  await using server = await startTestServer({ snapshotMinBytes: 0 });
  const run = await runningCommand(server, "snap-2");
  const { agent, operator, commandId, handled, output, snapshot } = run;
  const clients = [operator];
  try {
    await output(Array.from({ length: 400 }, (_, i) => i + 1));
    snapshot(100);
    await handled();
    const late = await TestClient.dashboard(server, "viewer");
    clients.push(late);
    const from = late.raw.length;
    late.send("terminal:resume", { commandId, afterSeq: 0, snapshot: true });
    // Live output at once, while the 300 chunks after the screen are read.
    const live = Array.from({ length: 200 }, (_, i) => i + 401);
    await output(live);
    await waitRaw(
      late,
      (m) => m.type === "terminal:output" && m.payload.seq === 600,
      { from },
    );
    await broadcastBarrier(server, late);
    const got = received(late, commandId, from);
    assert.equal(got[0], "screen 100", "the screen comes first");
    const seqs = got.slice(1).map(Number);
    // Every chunk after the screen exactly once (live ones may come before
    // replayed ones: the client orders by seq).
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: 500 }, (_, i) => i + 101),
    );
  } finally {
    for (const c of clients) await c.close();
    await agent.close();
  }
});

Deno.test("a command with less output than snapshotMinBytes replays whole; a snapshot of another agent's command is NOT_FOUND", async () => {
  await using server = await startTestServer(); // default: 256 KiB
  const run = await runningCommand(server, "snap-3");
  const { agent, operator, commandId, handled, output, snapshot } = run;
  const other = await RawAgent.connect(server, "snap-4");
  const clients = [operator];
  try {
    await output([1, 2, 3]);
    snapshot(3);
    await handled();
    assert.deepEqual(
      await resume(operator, { commandId, afterSeq: 0, snapshot: true }, 3),
      ["1", "2", "3"],
    );
    // 300 KiB more: now over the bound, the screen stands for it.
    await output([4, 5, 6], () => "x".repeat(100 * 1024));
    snapshot(6);
    await handled();
    const from = operator.raw.length;
    operator.send("terminal:resume", {
      commandId,
      afterSeq: 0,
      snapshot: true,
    });
    await waitRaw(operator, (m) => m.type === "terminal:snapshot", { from });
    await echoBarrier(operator);
    assert.deepEqual(received(operator, commandId, from), ["screen 6"]);

    other.send("terminal:snapshot", {
      commandId,
      seq: 1,
      cols: 80,
      rows: 24,
      data: "not mine",
    }, "foreign");
    const error = await other.waitFor((m) =>
      m.type === "error" && m.payload.replyTo === "foreign"
    );
    assert.equal(error.payload.code, "NOT_FOUND");
  } finally {
    for (const c of clients) await c.close();
    await agent.close();
    await other.close();
  }
});

Deno.test("terminal:earlier pages back through stored output, newest first, about 128 KiB per page", async () => {
  await using server = await startTestServer({ snapshotMinBytes: 0 });
  const run = await runningCommand(server, "snap-5");
  const { agent, operator, commandId, output } = run;
  const clients = [operator];
  try {
    // Five chunks of 60 KiB: a page holds two.
    await output([1, 2, 3, 4, 5], (seq) => String(seq).repeat(60 * 1024));
    const page = async (beforeSeq: number) => {
      const id = `e-${beforeSeq}`;
      const from = operator.raw.length;
      operator.send("terminal:earlier", { commandId, beforeSeq }, id);
      const m = await waitRaw(
        operator,
        (m) => m.type === "terminal:earlier" || m.payload?.replyTo === id,
        { from },
      );
      if (m.type !== "terminal:earlier") return m.payload.code;
      const { fromSeq, toSeq, data, more } = m.payload;
      return { fromSeq, toSeq, data: data.length / (60 * 1024), more };
    };
    assert.deepEqual(await page(6), {
      fromSeq: 4,
      toSeq: 5,
      data: 2,
      more: true,
    });
    assert.deepEqual(await page(4), {
      fromSeq: 2,
      toSeq: 3,
      data: 2,
      more: true,
    });
    assert.deepEqual(await page(2), {
      fromSeq: 1,
      toSeq: 1,
      data: 1,
      more: false,
    });
    assert.deepEqual(await page(1), {
      fromSeq: 1,
      toSeq: 1,
      data: 0,
      more: false,
    });
    const from = operator.raw.length;
    operator.send("terminal:earlier", { commandId: "nope", beforeSeq: 3 }, "x");
    const error = await waitRaw(
      operator,
      (m) => m.type === "error" && m.payload.replyTo === "x",
      { from },
    );
    assert.equal(error.payload.code, "NOT_FOUND");
    // The first page's text is the chunks in seq order.
    operator.send("terminal:earlier", { commandId, beforeSeq: 3 });
    const text = await waitRaw(
      operator,
      (m) => m.type === "terminal:earlier" && m.payload.toSeq === 2,
    );
    assert.equal(
      text.payload.data,
      "1".repeat(60 * 1024) + "2".repeat(60 * 1024),
    );
  } finally {
    for (const c of clients) await c.close();
    await agent.close();
  }
});
