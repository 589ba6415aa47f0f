import assert from "node:assert/strict";
import { type CommandInfo, envelope, parseServerMessage } from "../protocol.ts";
import type { MessageClient } from "./socket.ts";
import { bindStores, createStores, resumeMap } from "./stores.ts";
import { gapMarker, TRIMMED_MARKER } from "./output_store.ts";

function setup(options?: Parameters<typeof createStores>[0]) {
  const s = createStores(options);
  const handlers = new Map<string, (m: never) => void>();
  const sent: unknown[] = [];
  const client: MessageClient = {
    on(type, handler) {
      handlers.set(type, handler as (m: never) => void);
      return () => handlers.delete(type);
    },
    send(type, payload, id) {
      sent.push({ type, payload });
      return id ?? "x";
    },
  };
  bindStores(s, client);
  const emit = (type: string, payload: unknown) => {
    const parsed = parseServerMessage(JSON.stringify(envelope(type, payload)));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    handlers.get(type)?.(parsed.message as never);
  };
  const chunk = (commandId: string, seq: number, data = `${seq};`) =>
    emit("terminal:output", {
      agentId: "a-1",
      commandId,
      seq,
      stream: "stdout",
      data,
    });
  const status = (id: string, patch: Partial<CommandInfo>) =>
    emit("command:status", {
      command: {
        id,
        agentId: "a-1",
        command: "ls",
        priority: "normal",
        status: "running",
        requestedBy: "u",
        requestedAt: 1,
        startedAt: 2,
        completedAt: null,
        exitCode: null,
        outputBytes: 0,
        ...patch,
      },
    });
  return { s, emit, chunk, status, sent };
}

Deno.test("resumeMap: running, unknown and incomplete final commands, not complete ones", () => {
  const { s, chunk, status } = setup();
  status("run", {});
  chunk("run", 1);
  chunk("unknown", 1);
  // Final, all its bytes here ("1;2;" = 4 bytes): nothing to resume.
  status("done", {});
  chunk("done", 1);
  chunk("done", 2);
  status("done", {
    status: "completed",
    exitCode: 0,
    completedAt: 3,
    outputBytes: 4,
  });
  // Final, but the last chunk never came: resume after its last seq.
  status("short", {});
  chunk("short", 1, "é");
  status("short", {
    status: "failed",
    exitCode: 1,
    completedAt: 3,
    outputBytes: 3,
  });
  // Final with output lost to retention: nothing more can come.
  status("lost", {});
  s.output.gap({ agentId: "a-1", commandId: "lost", fromSeq: 1, toSeq: 5 });
  status("lost", {
    status: "completed",
    exitCode: 0,
    completedAt: 3,
    outputBytes: 99,
  });
  assert.equal(s.output.receivedBytes("short"), 2);
  assert.deepEqual(resumeMap(s), { run: 1, unknown: 1, short: 1 });
});

Deno.test("terminal:gap after a resume shows the marker and releases later chunks", () => {
  const { s, chunk, emit, sent } = setup();
  chunk("c", 1);
  chunk("c", 9); // held; asks for a replay after 1
  assert.equal(sent.length, 1);
  assert.equal(s.output.isWaiting("c"), true);
  emit("terminal:gap", {
    agentId: "a-1",
    commandId: "c",
    fromSeq: 2,
    toSeq: 8,
  });
  assert.equal(s.output.fullText("c"), `1;${gapMarker(2, 8)}9;`);
  assert.equal(s.output.lastSeq("c"), 9);
  assert.equal(s.output.isWaiting("c"), false);
  // A gap answering a replay with nothing held ends the wait too.
  s.output.ensure("d");
  emit("terminal:gap", {
    agentId: "a-1",
    commandId: "d",
    fromSeq: 1,
    toSeq: 4,
  });
  assert.equal(s.output.isWaiting("d"), false);
  chunk("d", 5, "tail");
  assert.equal(s.output.fullText("d"), `${gapMarker(1, 4)}tail`);
});

Deno.test("fullText: bounded by default, unbounded when asked", () => {
  const big = "x".repeat(1024 * 1024);
  const bounded = setup();
  const unbounded = setup({
    maxCachedBytesPerCommand: Infinity,
    maxCachedCommands: Infinity,
  });
  for (const { chunk } of [bounded, unbounded]) {
    for (let seq = 1; seq <= 3; seq++) chunk("c", seq, big);
  }
  assert.equal(bounded.s.output.fullText("c"), TRIMMED_MARKER + big + big);
  assert.equal(unbounded.s.output.fullText("c"), big + big + big);
  assert.equal(unbounded.s.output.fullText("nothing"), "");
});

Deno.test("a command asked for from the start is asked for again with a snapshot allowed after a reconnect, not resumed by map", () => {
  const { s, emit, chunk, status, sent } = setup();
  status("run", {});
  const ack = () =>
    emit("connection:ack", {
      connectionId: "c-2",
      serverVersion: "1",
      heartbeatIntervalMs: 1500,
      user: { id: "u", role: "viewer" },
    });
  // The first connection: the request from the start, then it dropped
  // before any answer (or the request went nowhere while offline).
  assert.equal(s.output.ensure("run"), true);
  const fromStart = {
    type: "terminal:resume",
    payload: { commandId: "run", afterSeq: 0, snapshot: true },
  };
  assert.deepEqual(sent, [fromStart]);
  // The next connection's resume map would replay without a snapshot.
  assert.deepEqual(resumeMap(s), {});
  ack();
  assert.deepEqual(sent, [fromStart, fromStart]);
  // Live output meanwhile waits for the answer and asks nothing more.
  chunk("run", 9);
  assert.equal(sent.length, 2);
  emit("terminal:snapshot", {
    agentId: "a-1",
    commandId: "run",
    seq: 8,
    cols: 80,
    rows: 24,
    data: "screen",
  });
  assert.equal(s.output.lastSeq("run"), 9);
  // Answered: resumed by seq from now on, and not asked for again.
  assert.deepEqual(resumeMap(s), { run: 9 });
  ack();
  assert.equal(sent.length, 2);
});

Deno.test("a command asked for between a connection's opening and its acknowledgement is asked for once, and live output meanwhile asks nothing more", () => {
  const { s, emit, chunk, status, sent } = setup();
  status("run", {});
  // The connection opens: its resume map goes with dashboard:connect.
  assert.deepEqual(resumeMap(s), {});
  // The view asks before the acknowledgement: on this connection, after
  // dashboard:connect, so the server answers it.
  assert.equal(s.output.ensure("run"), true);
  const fromStart = {
    type: "terminal:resume",
    payload: { commandId: "run", afterSeq: 0, snapshot: true },
  };
  assert.deepEqual(sent, [fromStart]);
  emit("connection:ack", {
    connectionId: "c-1",
    serverVersion: "1",
    heartbeatIntervalMs: 1500,
    user: { id: "u", role: "viewer" },
  });
  assert.deepEqual(sent, [fromStart], "not asked again");
  // Live output before the answer waits for it: still asked for.
  assert.equal(s.output.isWaiting("run"), true);
  chunk("run", 9);
  assert.deepEqual(sent, [fromStart]);
  emit("terminal:snapshot", {
    agentId: "a-1",
    commandId: "run",
    seq: 8,
    cols: 80,
    rows: 24,
    data: "screen",
  });
  assert.equal(s.output.lastSeq("run"), 9);
  assert.equal(s.output.isWaiting("run"), false);
});
