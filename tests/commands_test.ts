/**
 * Command life cycle with real agent processes: statuses and queue updates,
 * exact output, priorities, refusals, interrupts, emergency stop, retried
 * requests, replay from KV and large output (docs/protocol.md, "Dashboard → server",
 * "Status rules").
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  broadcastBarrier,
  outputOf,
  processAlive,
  queueCommand,
  RawAgent,
  requestCommand,
  sleep,
  startTestServer,
  statusesOf,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
  waitStatus,
} from "./helpers.ts";

/** A dashboard and a connected real agent, cleaned up by `await using`. */
async function setup(server: TestServer, agentId: string, role = "operator") {
  const dash = await TestClient.dashboard(
    server,
    role as "operator" | "admin",
  );
  const agent = await AgentProcess.start(server, agentId);
  await waitAgentStatus(dash, agentId, "online");
  return {
    dash,
    agent,
    async [Symbol.asyncDispose]() {
      await agent.kill();
      await dash.close();
    },
  };
}

/** Chunks of `commandId` at `client`, per stream. */
function streams(client: TestClient, commandId: string) {
  const chunks = client.of("terminal:output").filter((c) =>
    c.commandId === commandId
  );
  const join = (stream: string) =>
    chunks.filter((c) => c.stream === stream).map((c) => c.data).join("");
  return { chunks, stdout: join("stdout"), stderr: join("stderr") };
}

function assertContiguous(seqs: number[]): void {
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
}

/** `command:queue` entries of `agentId` at `client`, as `[commandId, priority, position]`. */
function queues(client: TestClient, agentId: string) {
  return client.of("command:queue").filter((q) => q.agentId === agentId).map(
    (q) => q.queue.map((e) => [e.commandId, e.priority, e.position] as const),
  );
}

Deno.test("commands: queued → running → completed, every status and queue change in order", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "life-1");
  const { dash } = s;
  const from = dash.messages.length;
  const reply = await requestCommand(dash, {
    agentId: "life-1",
    command: "echo hello",
  }, "req-1");
  assert.equal(reply.type, "command:status");
  if (reply.type !== "command:status") return;
  assert.equal(reply.payload.replyTo, "req-1");
  const queued = reply.payload.command;
  assert.deepEqual(Object.keys(queued).sort(), [
    "agentId",
    "command",
    "completedAt",
    "exitCode",
    "id",
    "outputBytes",
    "priority",
    "requestedAt",
    "requestedBy",
    "startedAt",
    "status",
  ]);
  assert.equal(queued.status, "queued");
  assert.equal(queued.agentId, "life-1");
  assert.equal(queued.command, "echo hello");
  assert.equal(queued.priority, "normal");
  assert.equal(queued.requestedBy, "operator");
  assert.equal(queued.startedAt, null);
  assert.equal(queued.completedAt, null);
  assert.equal(queued.exitCode, null);
  assert.equal(queued.outputBytes, 0);

  const final = await waitFinal(dash, queued.id);
  const statuses = statusesOf(dash, queued.id);
  assert.deepEqual(statuses.map((s) => s.command.status), [
    "queued",
    "running",
    "completed",
  ]);
  assert.deepEqual(statuses.map((s) => s.replyTo), [
    "req-1",
    undefined,
    undefined,
  ]);
  assert.equal(final.exitCode, 0);
  assert.equal(final.outputBytes, 6);
  const running = statuses[1].command;
  assert.ok(
    running.startedAt !== null && running.startedAt >= queued.requestedAt,
  );
  assert.equal(running.exitCode, null);
  assert.ok(
    final.completedAt !== null && final.completedAt >= running.startedAt!,
  );
  assert.equal(final.startedAt, running.startedAt);
  assert.equal(final.requestedAt, queued.requestedAt);

  // Queue: added at position 0, then emptied when dispatched.
  assert.deepEqual(queues(dash, "life-1"), [
    [[queued.id, "normal", 0]],
    [],
  ]);
  // Order of the command's messages: queued, queue, running, output, completed.
  const relevant = dash.messages.slice(from).filter((m) =>
    (m.type === "command:status" && m.payload.command.id === queued.id) ||
    m.type === "command:queue" ||
    (m.type === "terminal:output" && m.payload.commandId === queued.id)
  ).map((m) =>
    m.type === "command:status" ? `status:${m.payload.command.status}` : m.type
  );
  assert.deepEqual(relevant, [
    "status:queued",
    "command:queue",
    "command:queue",
    "status:running",
    "terminal:output",
    "status:completed",
  ]);
  assert.equal(outputOf(dash, queued.id).text, "hello\n");
});

Deno.test("commands: output bytes are exact (ANSI, multi-byte, stdout and stderr), seq contiguous from 1", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "bytes-1");
  const { dash } = s;
  const id = await queueCommand(dash, {
    agentId: "bytes-1",
    command:
      "printf '\\033[31mred\\033[0m é € 🚀 漢字\\n'; printf '\\033[1;33mwarn\\033[0m ü 🚀\\n' >&2",
  });
  const final = await waitFinal(dash, id);
  assert.equal(final.status, "completed");
  const out = streams(dash, id);
  assert.equal(out.stdout, "\x1b[31mred\x1b[0m é € 🚀 漢字\n");
  assert.equal(out.stderr, "\x1b[1;33mwarn\x1b[0m ü 🚀\n");
  assertContiguous(out.chunks.map((c) => c.seq));
  assert.equal(
    final.outputBytes,
    new TextEncoder().encode(out.stdout + out.stderr).length,
  );
  for (const c of out.chunks) assert.equal(c.agentId, "bytes-1");
});

Deno.test("commands: multi-byte characters are never split across chunks", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "utf8-1");
  const { dash } = s;
  const unit = "漢字🚀é€";
  const id = await queueCommand(dash, {
    agentId: "utf8-1",
    // ~100 KiB with no newline: several 16 KiB batches cut mid-stream.
    command: `for i in $(seq 1 6000); do printf '${unit}'; done`,
  });
  const final = await waitFinal(dash, id);
  assert.equal(final.status, "completed");
  const out = streams(dash, id);
  assert.ok(out.chunks.length > 1, `only ${out.chunks.length} chunk(s)`);
  for (const c of out.chunks) {
    assert.ok(!c.data.includes("\uFFFD"), `chunk ${c.seq} has U+FFFD`);
    // No lone surrogate at either end.
    assert.ok(!/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(c.data));
  }
  assert.equal(out.stdout, unit.repeat(6000));
  assertContiguous(out.chunks.map((c) => c.seq));
});

Deno.test("commands: exit 3 ends failed with exitCode 3", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "fail-1");
  const { dash } = s;
  const id = await queueCommand(dash, {
    agentId: "fail-1",
    command: "echo oops >&2; exit 3",
  });
  const final = await waitFinal(dash, id);
  assert.equal(final.status, "failed");
  assert.equal(final.exitCode, 3);
  assert.deepEqual(statusesOf(dash, id).map((s) => s.command.status), [
    "queued",
    "running",
    "failed",
  ]);
  assert.equal(streams(dash, id).stderr, "oops\n");
});

Deno.test("commands: priority order high, normal, normal2, low behind a busy agent", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "prio-1");
  const { dash } = s;
  const busy = await queueCommand(dash, {
    agentId: "prio-1",
    command: "sleep 1.5",
  });
  await waitStatus(dash, busy, "running");
  await broadcastBarrier(server, dash);
  const queueFrom = queues(dash, "prio-1").length;
  const low = await queueCommand(dash, {
    agentId: "prio-1",
    command: "echo low",
    priority: "low",
  });
  const normal = await queueCommand(dash, {
    agentId: "prio-1",
    command: "echo normal",
  });
  const high = await queueCommand(dash, {
    agentId: "prio-1",
    command: "echo high",
    priority: "high",
  });
  const normal2 = await queueCommand(dash, {
    agentId: "prio-1",
    command: "echo normal2",
    priority: "normal",
  });
  // Every request produced one queue update (broadcast after its reply).
  await dash.until(() => queues(dash, "prio-1").length >= queueFrom + 4, {
    what: "four queue updates",
  });
  // Still busy: every request produced one queue update, in priority order.
  assert.equal(
    dash.of("command:status").some((st) =>
      st.command.id === busy && st.command.status !== "running" &&
      st.command.status !== "queued"
    ),
    false,
    "the sleep ended before all four were queued",
  );
  assert.deepEqual(queues(dash, "prio-1").slice(queueFrom, queueFrom + 4), [
    [[low, "low", 0]],
    [[normal, "normal", 0], [low, "low", 1]],
    [[high, "high", 0], [normal, "normal", 1], [low, "low", 2]],
    [
      [high, "high", 0],
      [normal, "normal", 1],
      [normal2, "normal", 2],
      [low, "low", 3],
    ],
  ]);
  const finals = [];
  for (const id of [high, normal, normal2, low]) {
    finals.push(await waitFinal(dash, id));
  }
  assert.ok(finals.every((f) => f.status === "completed"));
  const running = dash.of("command:status").filter((st) =>
    st.command.status === "running"
  ).map((st) => st.command.id);
  assert.deepEqual(running, [busy, high, normal, normal2, low]);
  const started = finals.map((f) => f.startedAt!);
  assert.deepEqual(started, [...started].sort((a, b) => a - b));
  // Each started after the previous one completed.
  for (let i = 1; i < finals.length; i++) {
    assert.ok(finals[i].startedAt! >= finals[i - 1].completedAt!);
  }
  // After dispatches, the queue shrank from the head.
  assert.deepEqual(queues(dash, "prio-1").slice(queueFrom + 4), [
    [[normal, "normal", 0], [normal2, "normal", 1], [low, "low", 2]],
    [[normal2, "normal", 0], [low, "low", 1]],
    [[low, "low", 0]],
    [],
  ]);
});

Deno.test("commands: unknown agent → AGENT_OFFLINE, nothing queued", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  try {
    const reply = await requestCommand(dash, {
      agentId: "nobody",
      command: "echo hi",
    }, "off-1");
    assert.equal(reply.type, "error");
    assert.deepEqual(reply.payload, {
      code: "AGENT_OFFLINE",
      message: (reply.payload as { message: string }).message,
      recoverable: true,
      replyTo: "off-1",
    });
    await broadcastBarrier(server, dash);
    assert.deepEqual(dash.of("command:status"), []);
    assert.deepEqual(dash.of("command:queue"), []);
    assert.deepEqual(
      await server.services.commands.listRecent({ limit: 10 }),
      [],
    );
  } finally {
    await dash.close();
  }
});

Deno.test("commands: QUEUE_FULL at maxQueuePerAgent", async () => {
  await using server = await startTestServer({ maxQueuePerAgent: 2 });
  const dash = await TestClient.dashboard(server);
  // A raw agent takes the first command and never finishes it.
  const agent = await RawAgent.connect(server, "full-1");
  try {
    await waitAgentStatus(dash, "full-1", "online");
    const first = await queueCommand(dash, { agentId: "full-1", command: "a" });
    await agent.waitFor((m) =>
      m.type === "command:execute" && m.payload.command.id === first
    );
    const second = await queueCommand(dash, {
      agentId: "full-1",
      command: "b",
    });
    const third = await queueCommand(dash, { agentId: "full-1", command: "c" });
    // The queue update of "c" is broadcast after its reply.
    await broadcastBarrier(server, dash);
    const statusCount = dash.of("command:status").length;
    const queueCount = dash.of("command:queue").length;
    const reply = await requestCommand(dash, {
      agentId: "full-1",
      command: "d",
    }, "full-req");
    assert.equal(reply.type, "error");
    if (reply.type !== "error") return;
    assert.equal(reply.payload.code, "QUEUE_FULL");
    assert.equal(reply.payload.recoverable, true);
    assert.equal(reply.payload.replyTo, "full-req");
    await broadcastBarrier(server, dash);
    assert.equal(dash.of("command:status").length, statusCount);
    assert.equal(dash.of("command:queue").length, queueCount);
    assert.deepEqual(server.services.commands.queueOf("full-1"), [
      { commandId: second, priority: "normal", position: 0 },
      { commandId: third, priority: "normal", position: 1 },
    ]);
  } finally {
    await agent.close();
    await dash.close();
  }
});

Deno.test("commands: interrupting a running command kills its process group", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "int-1");
  const { dash } = s;
  {
    const id = await queueCommand(dash, {
      agentId: "int-1",
      command: `bash -c 'sleep 300 & echo "pid=$!"; wait'`,
    });
    await waitStatus(dash, id, "running");
    // The background sleep's pid, as the command printed it.
    const pid = Number(
      await dash.until(() => /pid=(\d+)\n/.exec(outputOf(dash, id).text)?.[1], {
        what: "the background sleep's pid",
      }),
    );
    assert.ok(pid > 0, "the background sleep did not start");
    assert.ok(processAlive(pid));
    const started = Date.now();
    dash.send(
      "command:interrupt",
      { commandId: id, reason: "test" },
      "int-req",
    );
    const ack = await dash.waitFor((m) =>
      m.type === "command:status" && m.payload.replyTo === "int-req"
    );
    assert.equal(ack.type === "command:status" && ack.payload.command.id, id);
    const final = await waitFinal(dash, id, 8000);
    const elapsed = Date.now() - started;
    assert.equal(final.status, "interrupted");
    assert.equal(final.exitCode, null);
    assert.ok(elapsed < 5000, `interrupted after ${elapsed} ms`);
    const gone = Date.now() + 3000;
    while (processAlive(pid) && Date.now() < gone) await sleep(50);
    assert.equal(processAlive(pid), false, `pid ${pid} survived`);
    // The agent is free again.
    await waitAgentStatus(dash, "int-1", "online", 3000);
  }
});

Deno.test("commands: interrupting a queued command removes it without running", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "intq-1");
  const { dash } = s;
  const busy = await queueCommand(dash, {
    agentId: "intq-1",
    command: "sleep 1",
  });
  await waitStatus(dash, busy, "running");
  const queued = await queueCommand(dash, {
    agentId: "intq-1",
    command: "echo never",
  }, "intq-q");
  // Its queue update is broadcast after the reply.
  await broadcastBarrier(server, dash);
  const queueCount = dash.of("command:queue").length;
  dash.send("command:interrupt", { commandId: queued }, "intq-req");
  const reply = await dash.waitFor((m) =>
    m.type === "command:status" && m.payload.replyTo === "intq-req"
  );
  assert.equal(reply.type, "command:status");
  const final = await waitFinal(dash, queued);
  assert.equal(final.status, "cancelled");
  assert.deepEqual(final.endedBy, {
    actor: "operator",
    role: "operator",
    reason: "interrupted by operator",
  });
  assert.equal(final.exitCode, null);
  assert.equal(final.startedAt, null);
  assert.ok(
    final.completedAt !== null && final.completedAt >= final.requestedAt,
  );
  await dash.until(() => dash.of("command:queue").length > queueCount);
  assert.deepEqual(
    dash.of("command:queue").slice(queueCount).filter((q) =>
      q.agentId === "intq-1"
    )[0].queue,
    [],
  );
  await waitFinal(dash, busy);
  await broadcastBarrier(server, dash);
  // The requester's copy of "queued" carries its request id; the interrupt
  // is broadcast, then answered to the interrupter.
  assert.deepEqual(
    statusesOf(dash, queued).map((st) => [st.command.status, st.replyTo]),
    [
      ["queued", "intq-q"],
      ["cancelled", undefined],
      ["cancelled", "intq-req"],
    ],
  );
  assert.equal(outputOf(dash, queued).text, "");
});

Deno.test("commands: emergency:stop by admin interrupts running and empties queues on two agents", async () => {
  await using server = await startTestServer();
  const admin = await TestClient.dashboard(server, "admin");
  const operator = await TestClient.dashboard(server, "operator");
  const agents = [
    await AgentProcess.start(server, "em-a"),
    await AgentProcess.start(server, "em-b"),
  ];
  try {
    await waitAgentStatus(admin, "em-a", "online");
    await waitAgentStatus(admin, "em-b", "online");
    const running: string[] = [];
    const queued: string[] = [];
    for (const agentId of ["em-a", "em-b"]) {
      running.push(
        await queueCommand(operator, { agentId, command: "sleep 30" }),
      );
      queued.push(await queueCommand(operator, { agentId, command: "echo q" }));
    }
    for (const id of running) await waitStatus(admin, id, "running");

    // An operator may not.
    const denied = operator.messages.length;
    operator.send("emergency:stop", { reason: "nope" }, "em-op");
    const error = await operator.waitFor(
      (m) => m.type === "error" && m.payload.replyTo === "em-op",
      { from: denied },
    );
    assert.equal(error.type === "error" && error.payload.code, "FORBIDDEN");
    await broadcastBarrier(server, admin);
    for (const id of [...running, ...queued]) {
      assert.equal(
        statusesOf(admin, id).some((st) => st.command.status === "interrupted"),
        false,
      );
    }

    const started = Date.now();
    admin.send("emergency:stop", { reason: "test" });
    const by = { actor: "admin", role: "admin", reason: "test" };
    for (const id of running) {
      const final = await waitFinal(admin, id, 8000);
      assert.deepEqual(
        [final.status, final.exitCode, final.endedBy],
        ["interrupted", null, by],
      );
    }
    for (const id of queued) {
      const final = await waitFinal(admin, id, 8000);
      assert.deepEqual(
        [final.status, final.exitCode, final.endedBy],
        ["cancelled", null, by],
      );
    }
    assert.ok(Date.now() - started < 6000);
    for (const id of queued) {
      assert.deepEqual(statusesOf(admin, id).map((st) => st.command.status), [
        "queued",
        "cancelled",
      ]);
    }
    for (const agentId of ["em-a", "em-b"]) {
      const last = admin.of("command:queue").filter((q) =>
        q.agentId === agentId
      )
        .at(-1);
      assert.deepEqual(last?.queue, []);
      assert.deepEqual(server.services.commands.queueOf(agentId), []);
      await waitAgentStatus(admin, agentId, "online", 3000);
    }
  } finally {
    for (const agent of agents) await agent.kill();
    await admin.close();
    await operator.close();
  }
});

Deno.test("commands: a retried command:request with the same id returns the original and runs once", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "dup-1");
  const { dash } = s;
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-dup-" });
  try {
    const payload = { agentId: "dup-1", command: `echo run >> ${dir}/log` };
    dash.send("command:request", payload, "same-id");
    dash.send("command:request", payload, "same-id");
    await dash.until(() =>
      dash.of("command:status").filter((st) => st.replyTo === "same-id")
        .length === 2
    );
    const replies = dash.of("command:status").filter((st) =>
      st.replyTo === "same-id"
    );
    const id = replies[0].command.id;
    assert.equal(replies[1].command.id, id);
    await waitFinal(dash, id);
    // Retried after completion: still the original, now final.
    const again = await requestCommand(dash, payload, "same-id");
    assert.equal(again.type, "command:status");
    if (again.type !== "command:status") return;
    assert.equal(again.payload.command.id, id);
    assert.equal(again.payload.command.status, "completed");
    await broadcastBarrier(server, dash);
    const ids = new Set(dash.of("command:status").map((st) => st.command.id));
    assert.deepEqual([...ids], [id]);
    assert.equal(await Deno.readTextFile(`${dir}/log`), "run\n");
    assert.deepEqual(
      statusesOf(dash, id).filter((st) => st.replyTo === undefined).map((st) =>
        st.command.status
      ),
      ["running", "completed"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("commands: terminal:resume from afterSeq 0 replays the stored output exactly", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "kv-1");
  const { dash } = s;
  const id = await queueCommand(dash, {
    agentId: "kv-1",
    command:
      "for i in 1 2 3; do printf '\\033[32m%s\\033[0m é🚀\\n' $i; echo err$i >&2; sleep 0.05; done",
  });
  await waitFinal(dash, id);
  const live = dash.of("terminal:output").filter((c) => c.commandId === id);
  assert.ok(live.length >= 2);
  const fresh = await TestClient.dashboard(server, "viewer");
  try {
    // The snapshot carries the command's final state, no output.
    const snap = fresh.of("command:status").find((st) => st.command.id === id);
    assert.equal(snap?.command.status, "completed");
    assert.equal(snap?.replyTo, undefined);
    assert.equal(fresh.of("terminal:output").length, 0);
    fresh.send("terminal:resume", { commandId: id, afterSeq: 0 });
    await fresh.until(() => fresh.of("terminal:output").length === live.length);
    assert.deepEqual(fresh.of("terminal:output"), live);
    // From the middle.
    const before = fresh.of("terminal:output").length;
    fresh.send("terminal:resume", { commandId: id, afterSeq: 1 });
    await fresh.until(() =>
      fresh.of("terminal:output").length === before + live.length - 1
    );
    assert.deepEqual(fresh.of("terminal:output").slice(before), live.slice(1));
  } finally {
    await fresh.close();
  }
});

Deno.test("commands: large output (seq 1 50000) arrives complete and in order", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "big-1");
  const { dash } = s;
  const id = await queueCommand(dash, {
    agentId: "big-1",
    command: "seq 1 50000",
  });
  const final = await waitFinal(dash, id, 30_000);
  assert.equal(final.status, "completed");
  const expected = Array.from({ length: 50000 }, (_, i) => `${i + 1}\n`).join(
    "",
  );
  const out = outputOf(dash, id);
  assert.equal(out.text.length, expected.length);
  assert.equal(out.text, expected);
  assertContiguous(out.seqs);
  assert.equal(final.outputBytes, expected.length);
});

Deno.test("commands: timeoutMs ends a command with status timeout", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "to-1");
  const { dash } = s;
  const id = await queueCommand(dash, {
    agentId: "to-1",
    command: "sleep 30",
    timeoutMs: 300,
  });
  const final = await waitFinal(dash, id, 8000);
  assert.equal(final.status, "timeout");
  assert.equal(final.exitCode, null);
  assert.deepEqual(statusesOf(dash, id).map((st) => st.command.status), [
    "queued",
    "running",
    "timeout",
  ]);
});

// The agent derives its status from the reason text; the server maps it by
// its own timer (commands.ts `timedOut`), so the word alone changes nothing.
Deno.test({
  name:
    "commands: an operator interrupt whose reason is the word timeout still ends interrupted",
}, async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "reason-1");
  const { dash } = s;
  const id = await queueCommand(dash, {
    agentId: "reason-1",
    command: "sleep 30",
  });
  await waitStatus(dash, id, "running");
  dash.send("command:interrupt", { commandId: id, reason: "timeout" });
  const final = await waitFinal(dash, id, 8000);
  assert.equal(final.status, "interrupted");
});

Deno.test("commands: interrupt of an unknown or finished command → NOT_FOUND; a viewer may not interrupt", async () => {
  await using server = await startTestServer();
  await using s = await setup(server, "nf-int-1");
  const { dash } = s;
  const viewer = await TestClient.dashboard(server, "viewer");
  try {
    const id = await queueCommand(dash, {
      agentId: "nf-int-1",
      command: "sleep 0.3",
    });
    await waitStatus(dash, id, "running");
    viewer.send("command:interrupt", { commandId: id }, "v-int");
    const denied = await viewer.waitFor((m) =>
      m.type === "error" && m.payload.replyTo === "v-int"
    );
    assert.equal(denied.type === "error" && denied.payload.code, "FORBIDDEN");
    const final = await waitFinal(dash, id);
    assert.equal(final.status, "completed");
    for (const commandId of [id, "no-such-command"]) {
      dash.send("command:interrupt", { commandId }, `int-${commandId}`);
      const error = await dash.waitFor((m) =>
        m.type === "error" && m.payload.replyTo === `int-${commandId}`
      );
      assert.equal(error.type === "error" && error.payload.code, "NOT_FOUND");
    }
    dash.send("terminal:resume", { commandId: "nope", afterSeq: 0 }, "res-1");
    const missing = await dash.waitFor((m) =>
      m.type === "error" && m.payload.replyTo === "res-1"
    );
    assert.equal(missing.type === "error" && missing.payload.code, "NOT_FOUND");
  } finally {
    await viewer.close();
  }
});

Deno.test("commands: the same request id from two different users queues two commands", async () => {
  await using server = await startTestServer();
  const agent = await RawAgent.connect(server, "users-1");
  const clients: TestClient[] = [];
  try {
    for (const subject of ["alice", "bob"]) {
      const token = await server.services.auth.sign({
        role: "operator",
        subject,
      });
      const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
        authorization: `Bearer ${token}`,
      });
      clients.push(client);
      await client.opened();
      await client.waitFor((m) => m.type === "agent:list");
    }
    const ids = [];
    for (const client of clients) {
      ids.push(
        await queueCommand(client, { agentId: "users-1", command: "x" }, "r"),
      );
    }
    assert.notEqual(ids[0], ids[1]);
    const infos = await Promise.all(
      ids.map((id) => server.services.commands.get(id)),
    );
    assert.deepEqual(infos.map((i) => i?.requestedBy), ["alice", "bob"]);
  } finally {
    await agent.close();
    for (const client of clients) await client.close();
  }
});
