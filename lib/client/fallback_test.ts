import assert from "node:assert/strict";
import { envelope } from "../protocol.ts";
import { DashboardClient, type DashboardClientOptions } from "./socket.ts";
import {
  FakeEventSource,
  fakeFetch,
  FakeSocket,
  fakeTimers,
  flush,
} from "./test_fakes.ts";

const user = { id: "u", role: "operator" };
const ack = (connectionId: string) =>
  envelope("connection:ack", {
    connectionId,
    serverVersion: "1.0.0",
    heartbeatIntervalMs: 1500,
    user,
  });
const request = { agentId: "a-1", command: "ls", priority: "normal" } as const;

function setup(options: DashboardClientOptions = {}) {
  FakeSocket.instances = [];
  FakeEventSource.instances = [];
  const { clock, timers } = fakeTimers();
  const net = fakeFetch();
  const client = new DashboardClient({
    url: "ws://test/ws/dashboard",
    WebSocket: FakeSocket,
    EventSource: FakeEventSource,
    fetch: net.fetch,
    timers,
    random: () => 0.5,
    resume: () => ({ "c-1": 3 }),
    ...options,
  });
  const ws = () => FakeSocket.instances.at(-1)!;
  const es = () => FakeEventSource.instances.at(-1)!;
  /** Fail `n` WebSocket attempts, each when its retry is due. */
  const failSockets = (n: number) => {
    for (let i = 0; i < n; i++) {
      clock.tick(Math.max(0, client.connection.value.nextRetryAt! - clock.now));
      ws().fail(1006);
    }
  };
  return { clock, client, ws, es, ...net, failSockets };
}

/** Start, fail 3 sockets, then open the event stream as session `id`. */
async function onSse(t: ReturnType<typeof setup>, id = "sse-1") {
  t.client.start();
  t.ws().fail(1006);
  t.failSockets(2);
  t.clock.tick(0);
  t.es().emit(ack(id));
  await flush();
}

Deno.test("DashboardClient falls back to SSE + POST after 3 failed WebSocket attempts", async () => {
  const t = setup();
  t.client.start();
  t.ws().fail(1006);
  t.failSockets(1);
  assert.equal(FakeEventSource.instances.length, 0, "not after 2");
  t.failSockets(1);
  assert.equal(FakeSocket.instances.length, 3);
  assert.equal(t.client.connection.value.transport, "sse");
  assert.equal(t.client.connection.value.nextRetryAt, t.clock.now);
  t.clock.tick(0);
  assert.equal(t.es().url, "http://test/api/events");
  assert.equal(t.client.connection.value.state, "reconnecting");
  t.es().emit(ack("sse-1"));
  await flush();
  const info = t.client.connection.value;
  assert.equal(info.state, "connected");
  assert.equal(info.transport, "sse");
  assert.deepEqual(t.posts.map((p) => [p.url, p.connectionId]), [
    ["http://test/api/messages", "sse-1"],
  ]);
  assert.equal(t.posts[0].message.type, "dashboard:connect");
  assert.deepEqual(
    (t.posts[0].message.payload as { resume: unknown }).resume,
    { "c-1": 3 },
  );
  // Heartbeats every 5 s by POST; 20 s of silence is dead.
  t.clock.tick(5000);
  await flush();
  assert.deepEqual(t.posts.map((p) => p.message.type).slice(1), ["heartbeat"]);
  t.es().emit(envelope("heartbeat", { sequence: 1 }));
  t.clock.tick(15_000);
  assert.equal(t.client.connection.value.state, "connected");
  t.clock.tick(5000);
  assert.equal(t.client.connection.value.state, "reconnecting");
  assert.equal(t.es().closed, true);
  t.client.stop();
});

Deno.test("DashboardClient goes back to the WebSocket when the background probe is acknowledged", async () => {
  const t = setup();
  await onSse(t);
  const stream = t.es();
  const sockets = FakeSocket.instances.length;
  const wait = (ms: number) => { // with heartbeat echoes, so the stream lives
    for (let left = ms; left > 0; left -= 10_000) {
      t.clock.tick(Math.min(left, 10_000));
      stream.emit(envelope("heartbeat", { sequence: 1 }));
    }
  };
  wait(29_999);
  assert.equal(FakeSocket.instances.length, sockets);
  wait(1);
  assert.equal(FakeSocket.instances.length, sockets + 1, "probe after 30 s");
  t.ws().fail(1006); // a failed probe changes nothing
  assert.equal(t.client.connection.value.transport, "sse");
  assert.equal(t.client.connection.value.state, "connected");
  wait(30_000);
  const probe = t.ws();
  probe.open();
  assert.equal(t.client.connection.value.transport, "sse", "wait for ack");
  assert.equal(stream.closed, false);
  const seen: string[] = [];
  t.client.onMessage((m) => seen.push(m.type));
  probe.receive(ack("ws-1"));
  assert.equal(stream.closed, true);
  assert.deepEqual(seen, ["connection:ack"]);
  const info = t.client.connection.value;
  assert.equal(info.transport, "websocket");
  assert.equal(info.state, "connected");
  assert.deepEqual(probe.sent.map((m) => m.type), ["dashboard:connect"]);
  for (let i = 0; i < 60; i++) {
    t.clock.tick(1000);
    probe.receive(envelope("heartbeat", { sequence: i }));
  }
  assert.equal(FakeSocket.instances.length, sockets + 2, "probing stopped");
  assert.equal(t.client.connection.value.transport, "websocket");
  t.client.stop();
});

Deno.test("DashboardClient resends unanswered command:requests after reconnecting", () => {
  const t = setup();
  t.client.start();
  t.ws().open();
  const id = t.client.send("command:request", request, "r-1");
  t.client.send("command:request", { ...request, command: "pwd" }, "r-2");
  assert.equal(id, "r-1");
  assert.deepEqual([...t.client.pending.value.keys()], ["r-1", "r-2"]);
  const first = t.ws().sent.find((m) => m.id === "r-1");
  t.ws().receive(envelope("command:status", {
    replyTo: "r-2",
    command: {
      id: "c-2",
      agentId: "a-1",
      command: "pwd",
      priority: "normal",
      status: "queued",
      requestedBy: "u",
      requestedAt: 1,
      startedAt: null,
      completedAt: null,
      exitCode: null,
      outputBytes: 0,
    },
  }));
  assert.deepEqual([...t.client.pending.value.keys()], ["r-1"]);
  t.ws().fail(1006);
  t.clock.tick(0);
  t.ws().open();
  assert.deepEqual(t.ws().sent.map((m) => [m.type, m.id]).slice(0, 2), [
    ["dashboard:connect", t.ws().sent[0].id],
    ["command:request", "r-1"],
  ]);
  assert.deepEqual(t.ws().sent[1], first, "the same envelope");
  t.ws().receive(envelope("error", {
    code: "AGENT_OFFLINE",
    message: "offline",
    recoverable: true,
    replyTo: "r-1",
  }));
  assert.equal(t.client.pending.value.size, 0);
  // Sent while disconnected: kept, then sent on the next connection.
  t.ws().fail(1006);
  t.client.send("command:request", request, "r-3");
  t.clock.tick(1000);
  t.ws().open();
  assert.deepEqual(t.ws().sent.map((m) => m.id).slice(1), ["r-3"]);
  // Unanswered for 10 minutes: dropped, never resent.
  t.client.stop();
  t.clock.tick(10 * 60 * 1000);
  t.client.reconnect();
  t.ws().open();
  assert.deepEqual(t.ws().sent.map((m) => m.type), ["dashboard:connect"]);
  assert.equal(t.client.pending.value.size, 0);
  t.client.stop();
});

Deno.test("DashboardClient resends pending requests over SSE and opens a new EventSource on 404", async () => {
  const t = setup();
  await onSse(t);
  t.state.respond = () => ({
    status: 404,
    body: { error: { code: "NOT_FOUND" } },
  });
  t.client.send("command:request", request, "r-1");
  await flush();
  assert.equal(FakeEventSource.instances.length, 2, "new event stream");
  assert.equal(FakeEventSource.instances[0].closed, true);
  assert.equal(t.client.isOpen, false, "no session until its ack");
  t.state.respond = () => ({ status: 202 });
  const before = t.posts.length;
  t.es().emit(ack("sse-2"));
  await flush();
  assert.deepEqual(
    t.posts.slice(before).map((
      p,
    ) => [
      p.connectionId,
      p.message.type,
      p.message.id !== undefined && p.message.type === "command:request"
        ? p.message.id
        : "",
    ]),
    [["sse-2", "dashboard:connect", ""], ["sse-2", "command:request", "r-1"]],
  );
  assert.equal(t.client.connection.value.state, "connected");
  // The same session resumed by the browser (same id): nothing resent.
  t.es().emit(ack("sse-2"));
  await flush();
  assert.equal(t.posts.length, before + 2);
  t.client.stop();
});

Deno.test("DashboardClient over SSE: 400 becomes an error message, 401 signs out", async () => {
  const t = setup();
  await onSse(t);
  const errors: string[] = [];
  t.client.on(
    "error",
    (m) => errors.push(`${m.payload.code}:${m.payload.replyTo}`),
  );
  t.state.respond = () => ({
    status: 400,
    body: {
      error: {
        code: "INVALID_MESSAGE",
        message: "bad",
        recoverable: true,
        replyTo: "r-1",
      },
    },
  });
  t.client.send("command:request", request, "r-1");
  await flush();
  assert.deepEqual(errors, ["INVALID_MESSAGE:r-1"]);
  assert.equal(t.client.pending.value.size, 0);
  t.state.respond = () => ({ status: 401 });
  t.client.send("heartbeat", { sequence: 9 });
  await flush();
  assert.equal(t.client.connection.value.state, "offline");
  assert.equal(t.client.connection.value.stopReason, "signed-out");
  assert.equal(t.es().closed, true);
  t.client.stop();
});

Deno.test("DashboardClient: SSE failing too continues the schedule and keeps retrying", () => {
  const t = setup();
  t.client.start();
  t.ws().fail(1006);
  t.failSockets(2);
  t.clock.tick(0);
  t.es().error(2); // the stream never worked
  const info = t.client.connection.value;
  assert.equal(info.state, "reconnecting");
  assert.equal(info.transport, "websocket", "the next attempt's");
  assert.equal(info.nextRetryAt! - t.clock.now, 2000, "0, 1 s, SSE, 2 s");
  t.clock.tick(2000);
  assert.equal(t.client.connection.value.transport, "websocket");
  t.ws().fail(1006);
  const after = t.client.connection.value;
  assert.equal(after.state, "reconnecting", "never gives up");
  assert.equal(after.stopReason, null);
  assert.equal(after.nextRetryAt! - t.clock.now, 4000, "… 2 s, 4 s");
  t.clock.tick(4000);
  assert.equal(FakeSocket.instances.length, 5);
  t.client.stop();
});

Deno.test("DashboardClient gives up on an event stream that never acknowledges", () => {
  const t = setup();
  t.client.start();
  t.ws().fail(1006);
  t.failSockets(2);
  t.clock.tick(0);
  t.clock.tick(19_999);
  assert.equal(t.client.connection.value.state, "reconnecting");
  assert.equal(t.es().closed, false);
  t.clock.tick(5000);
  assert.equal(t.es().closed, true);
  assert.equal(t.client.connection.value.transport, "websocket");
  t.client.stop();
});

Deno.test("DashboardClient without an EventSource never falls back", () => {
  const t = setup({ EventSource: null });
  t.client.start();
  t.ws().fail(1006);
  t.failSockets(3);
  assert.equal(t.client.connection.value.transport, "websocket");
  assert.equal(FakeEventSource.instances.length, 0);
  t.client.stop();
});
