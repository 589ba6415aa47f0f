import assert from "node:assert/strict";
import type { AgentInfo, CommandInfo } from "../protocol.ts";
import { gapMarker, type OutputEvent } from "./output_store.ts";
import {
  bindStores,
  createStores,
  isStale,
  resumeMap,
  seedAgents,
} from "./stores.ts";
import { fakeClient } from "./test_fakes.ts";

const agent: AgentInfo = {
  id: "a-1",
  name: "builder",
  type: "shell",
  status: "online",
  capabilities: ["pty"],
  hostname: "box",
  connectedAt: 1,
  lastSeenAt: 2,
  currentCommandId: null,
};

const command: CommandInfo = {
  id: "c-1",
  agentId: "a-1",
  command: "ls",
  priority: "normal",
  status: "queued",
  requestedBy: "u",
  requestedAt: 10,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
};

function setup() {
  const s = createStores();
  const fake = fakeClient();
  bindStores(s, fake.client);
  const events: OutputEvent[] = [];
  s.output.subscribe((e) => events.push(e));
  const chunk = (seq: number, data = `${seq};`) =>
    fake.emit("terminal:output", {
      agentId: "a-1",
      commandId: "c-1",
      seq,
      stream: "stdout",
      data,
    });
  return { s, ...fake, events, chunk };
}

Deno.test("stores apply agent:list and agent:status", () => {
  const { s, emit } = setup();
  seedAgents(s, [{ ...agent, status: "offline" }]);
  assert.equal(s.agents.value.get("a-1")?.status, "offline");
  emit("agent:list", { agents: [agent] });
  emit("agent:status", {
    agent: { ...agent, status: "busy", currentCommandId: "c-1" },
  });
  assert.deepEqual(s.agents.value.get("a-1"), {
    ...agent,
    status: "busy",
    currentCommandId: "c-1",
  });
  seedAgents(s, []);
  assert.equal(s.agents.value.size, 1, "seeding never overwrites live data");
});

Deno.test("stores drop an agent on agent:removed", () => {
  const { s, emit } = setup();
  const other = { ...agent, id: "a-2", name: "other" };
  emit("agent:list", { agents: [agent, other] });
  emit("agent:removed", { agentId: "a-1" });
  assert.deepEqual([...s.agents.value.keys()], ["a-2"]);
  const before = s.agents.value;
  emit("agent:removed", { agentId: "unknown" });
  assert.equal(s.agents.value, before, "nothing changes for an unknown id");
});

Deno.test("stores track command:status, command:queue and errors", () => {
  const { s, emit, events } = setup();
  emit("command:status", { command });
  emit("command:queue", {
    agentId: "a-1",
    queue: [{ commandId: "c-1", priority: "normal", position: 0 }],
  });
  emit("command:status", {
    command: { ...command, status: "running", startedAt: 11 },
  });
  assert.equal(s.commands.value.get("c-1")?.status, "running");
  assert.deepEqual(s.queues.value.get("a-1"), [{
    commandId: "c-1",
    priority: "normal",
    position: 0,
  }]);
  assert.deepEqual(events, [{
    kind: "started",
    agentId: "a-1",
    commandId: "c-1",
  }]);
  for (let i = 0; i < 7; i++) {
    emit("error", {
      code: "QUEUE_FULL",
      message: `m${i}`,
      recoverable: true,
      replyTo: `r${i}`,
    });
  }
  assert.deepEqual(s.errors.value.map((e) => e.replyTo), [
    "r2",
    "r3",
    "r4",
    "r5",
    "r6",
  ]);
});

Deno.test("stores drop a duplicate chunk", () => {
  const { s, chunk, events } = setup();
  chunk(1);
  chunk(2);
  chunk(2, "again");
  chunk(1, "again");
  assert.deepEqual(events.map((e) => e.kind === "output" && e.text), [
    "1;",
    "2;",
  ]);
  assert.equal(s.output.lastSeq("c-1"), 2);
  assert.deepEqual(s.output.text("c-1"), ["1;", "2;"]);
});

Deno.test("stores hold chunks after a gap and ask for terminal:resume", () => {
  const { s, chunk, events, sent } = setup();
  chunk(1);
  chunk(4);
  chunk(5);
  assert.deepEqual(sent, [{
    type: "terminal:resume",
    payload: { commandId: "c-1", afterSeq: 1 },
  }]);
  assert.equal(events.length, 1);
  chunk(2);
  chunk(3);
  assert.deepEqual(events.map((e) => e.kind === "output" && e.seq), [
    1,
    2,
    3,
    4,
    5,
  ]);
  assert.equal(s.output.lastSeq("c-1"), 5);
  assert.equal(sent.length, 1);
  assert.deepEqual(resumeMap(s), { "c-1": 5 });
});

Deno.test("stores show a marker for terminal:gap and release held chunks", () => {
  const { s, chunk, emit, events } = setup();
  chunk(41);
  emit("terminal:gap", {
    agentId: "a-1",
    commandId: "c-1",
    fromSeq: 1,
    toSeq: 40,
  });
  assert.deepEqual(events.map((e) => e.kind), ["gap", "output"]);
  assert.equal(
    gapMarker(1, 40),
    "\x1b[38;2;139;148;158m[… output 1–40 no longer retained …]\x1b[0m\r\n",
  );
  assert.deepEqual(s.output.text("c-1"), [gapMarker(1, 40), "41;"]);
});

Deno.test("stores request a replay (a snapshot allowed) for an uncached command once", () => {
  const { s, sent } = setup();
  assert.equal(s.output.ensure("c-9"), true);
  assert.equal(s.output.ensure("c-9"), false);
  assert.deepEqual(sent, [{
    type: "terminal:resume",
    payload: { commandId: "c-9", afterSeq: 0, snapshot: true },
  }]);
});

Deno.test("stores drop queues (re-sent when non-empty) and old errors on connection:ack", () => {
  const s = createStores();
  const { client, emit } = fakeClient();
  bindStores(s, client);
  emit("command:queue", {
    agentId: "a-1",
    queue: [{ commandId: "c-1", priority: "normal", position: 0 }],
  });
  assert.equal(s.queues.value.get("a-1")?.length, 1);
  emit("error", { code: "QUEUE_FULL", message: "full", recoverable: true });
  assert.equal(s.errors.value.length, 1);
  emit("connection:ack", {
    connectionId: "k-2",
    serverVersion: "1.0.0",
    heartbeatIntervalMs: 1500,
    user: { id: "u", role: "operator" },
  });
  assert.equal(s.queues.value.size, 0, "the emptied queue is not stale");
  assert.deepEqual(s.errors.value, [], "errors of the old connection go");
});

Deno.test("isStale() marks agent states stale only after the connection was lost", () => {
  assert.equal(isStale("connecting"), false, "first connect: fresh snapshot");
  assert.equal(isStale("connected"), false);
  assert.equal(isStale("reconnecting"), true);
  assert.equal(isStale("offline"), true);
});

Deno.test("stores track session:controller holders and this tab's connection id; connection:ack clears holders", () => {
  const s = createStores();
  const { client, emit } = fakeClient();
  bindStores(s, client);
  const ack = (connectionId: string) =>
    emit("connection:ack", {
      connectionId,
      serverVersion: "1.0.0",
      heartbeatIntervalMs: 1500,
      user: { id: "alice", role: "operator" },
    });
  ack("k-1");
  assert.equal(s.connectionId.value, "k-1");
  emit("session:controller", {
    agentId: "a-1",
    holder: { userId: "alice", connectionId: "k-1" },
  });
  emit("session:controller", {
    agentId: "a-2",
    holder: { userId: "bob", connectionId: "k-9" },
  });
  assert.deepEqual([...s.controllers.value], [
    ["a-1", { userId: "alice", connectionId: "k-1" }],
    ["a-2", { userId: "bob", connectionId: "k-9" }],
  ]);
  // Taken over by bob, then released.
  emit("session:controller", {
    agentId: "a-1",
    holder: { userId: "bob", connectionId: "k-9" },
  });
  assert.deepEqual(s.controllers.value.get("a-1"), {
    userId: "bob",
    connectionId: "k-9",
  });
  emit("session:controller", { agentId: "a-1", holder: null });
  assert.equal(s.controllers.value.has("a-1"), false);
  // A forgotten agent has no holder.
  emit("agent:removed", { agentId: "a-2" });
  assert.equal(s.controllers.value.size, 0);
  // A reconnect's ack drops every holder (the snapshot re-announces them).
  emit("session:controller", {
    agentId: "a-3",
    holder: { userId: "alice", connectionId: "k-1" },
  });
  ack("k-2");
  assert.equal(s.connectionId.value, "k-2");
  assert.equal(s.controllers.value.size, 0);
});
