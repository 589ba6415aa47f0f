import assert from "node:assert/strict";
import { envelope } from "../protocol.ts";
import { DashboardClient, type DashboardClientOptions } from "./socket.ts";
import { FakeEventSource, FakeSocket, fakeTimers } from "./test_fakes.ts";

function setup(
  resume: Record<string, number> = {},
  options: Partial<DashboardClientOptions> = {},
) {
  FakeSocket.instances = [];
  const { clock, timers } = fakeTimers();
  const client = new DashboardClient({
    url: "ws://test/ws/dashboard",
    WebSocket: FakeSocket,
    timers,
    random: () => 0.5,
    resume: () => resume,
    clientInfo: { userAgent: "test", timezone: "UTC" },
    ...options,
  });
  const last = () => FakeSocket.instances[FakeSocket.instances.length - 1];
  return { clock, client, last };
}

Deno.test("DashboardClient sends dashboard:connect with the resume map on open", () => {
  const { client, last } = setup({ "c-1": 7 });
  client.start();
  assert.equal(client.connection.value.state, "connecting");
  assert.equal(last().url, "ws://test/ws/dashboard");
  last().open();
  assert.equal(client.connection.value.state, "connected");
  const [first] = last().sent as {
    type: string;
    payload: unknown;
    version: string;
  }[];
  assert.equal(first.type, "dashboard:connect");
  assert.equal(first.version, "1.0.0");
  assert.deepEqual(first.payload, {
    clientInfo: { userAgent: "test", timezone: "UTC" },
    resume: { "c-1": 7 },
  });
  client.stop();
});

Deno.test("DashboardClient reconnects on schedule and never gives up on network trouble", () => {
  const { clock, client, last } = setup();
  client.start();
  last().open();
  last().fail(1006);
  const retryTimes: number[] = [];
  const start = clock.now;
  assert.equal(client.connection.value.state, "reconnecting");
  assert.equal(client.connection.value.nextRetryAt, start);
  // 200 failed attempts in a row: more than 90 minutes of fake time.
  for (let i = 0; i < 200; i++) {
    const count = FakeSocket.instances.length;
    const info = client.connection.value;
    assert.equal(info.state, "reconnecting", `still retrying at attempt ${i}`);
    assert.equal(info.stopReason, null);
    const wait = info.nextRetryAt! - clock.now;
    if (wait > 0) {
      clock.tick(wait - 1);
      assert.equal(FakeSocket.instances.length, count, "not before its time");
    }
    clock.tick(wait > 0 ? 1 : 0);
    assert.equal(FakeSocket.instances.length, count + 1);
    retryTimes.push(clock.now - start);
    last().fail(1006);
  }
  assert.deepEqual(
    retryTimes.slice(0, 8),
    [0, 1000, 3000, 7000, 15000, 31000, 61000, 91000],
  );
  const gaps = retryTimes.slice(1).map((t, i) => t - retryTimes[i]);
  assert.deepEqual(new Set(gaps.slice(5)), new Set([30_000]), "capped at 30 s");
  assert.equal(client.connection.value.state, "reconnecting");

  // The server is back: the next attempt connects.
  clock.tick(client.connection.value.nextRetryAt! - clock.now);
  last().open();
  assert.equal(client.connection.value.state, "connected");
  client.stop();
});

Deno.test("DashboardClient waits at most 30 s between attempts, jitter included", () => {
  const { clock, client, last } = setup({}, {
    random: () => 0.9999999, // +20 % jitter on every delay
  });
  client.start();
  const waits: number[] = [];
  for (let i = 0; i < 12; i++) {
    last().fail(1006);
    const wait = client.connection.value.nextRetryAt! - clock.now;
    waits.push(wait);
    clock.tick(wait);
  }
  assert.deepEqual(waits, [
    0,
    1200,
    2400,
    4800,
    9600,
    19200,
    30000,
    30000,
    30000,
    30000,
    30000,
    30000,
  ]);
  client.stop();
});

Deno.test("DashboardClient.retryNow() skips the wait and keeps the schedule", () => {
  const { clock, client, last } = setup();
  client.start();
  last().open();
  for (let i = 0; i < 6; i++) {
    last().fail(1006);
    clock.tick(client.connection.value.nextRetryAt! - clock.now);
  }
  last().fail(1006);
  const info = client.connection.value;
  assert.equal(info.nextRetryAt! - clock.now, 30_000);
  const count = FakeSocket.instances.length;
  client.retryNow();
  assert.equal(FakeSocket.instances.length, count + 1, "a new attempt at once");
  assert.equal(client.connection.value.state, "reconnecting");
  assert.equal(client.connection.value.nextRetryAt, null, "no timer left");
  last().fail(1006);
  assert.equal(
    client.connection.value.nextRetryAt! - clock.now,
    30_000,
    "the schedule went on",
  );
  // The skipped timer does not fire a second attempt.
  clock.tick(29_999);
  assert.equal(FakeSocket.instances.length, count + 1);
  client.retryNow();
  last().open();
  assert.equal(client.connection.value.state, "connected");
  client.retryNow(); // connected: nothing to skip
  assert.equal(FakeSocket.instances.length, count + 2);
  client.stop();
});

Deno.test("DashboardClient with a finite maxFailures still goes offline", () => {
  const { clock, client, last } = setup({}, { maxFailures: 3 });
  client.start();
  for (let i = 0; i < 3; i++) {
    last().fail(1006);
    clock.tick(
      Math.max(0, (client.connection.value.nextRetryAt ?? 0) - clock.now),
    );
  }
  const info = client.connection.value;
  assert.equal(info.state, "offline");
  assert.equal(info.stopReason, "failures");
  clock.tick(120_000);
  assert.equal(FakeSocket.instances.length, 3, "no retry while offline");
  client.reconnect();
  assert.equal(FakeSocket.instances.length, 4);
  last().open();
  assert.equal(client.connection.value.state, "connected");
  client.stop();
});

Deno.test("DashboardClient resets the schedule after 10 s up", () => {
  const { clock, client, last } = setup();
  client.start();
  last().open();
  last().fail(1006);
  clock.tick(0);
  last().open();
  last().fail(1006); // up for 0 s: next delay is 1 s
  assert.equal(client.connection.value.nextRetryAt! - clock.now, 1000);
  clock.tick(1000);
  last().open();
  for (let t = 0; t < 10_000; t += 1000) {
    clock.tick(1000);
    last().receive(envelope("heartbeat", { sequence: 1 }));
  }
  assert.equal(FakeSocket.instances.length, 3);
  last().fail(1001);
  assert.equal(
    client.connection.value.nextRetryAt,
    clock.now,
    "immediate again",
  );
  client.stop();
});

Deno.test("DashboardClient stops on 4401 and 4403", () => {
  for (
    const [code, reason] of [[4401, "signed-out"], [4403, "forbidden"]] as const
  ) {
    const { clock, client, last } = setup();
    client.start();
    last().open();
    last().fail(code);
    assert.equal(client.connection.value.state, "offline");
    assert.equal(client.connection.value.stopReason, reason);
    clock.tick(60_000);
    assert.equal(FakeSocket.instances.length, 1);
  }
});

Deno.test("DashboardClient sends heartbeats and treats 5 s of silence as dead", () => {
  const { clock, client, last } = setup();
  client.start();
  const ws = last();
  ws.open();
  clock.tick(1500);
  const beats = () =>
    (ws.sent as { type: string; payload: unknown }[]).filter((m) =>
      m.type === "heartbeat"
    );
  assert.deepEqual(beats().map((m) => m.payload), [{ sequence: 1 }]);
  ws.receive(envelope("heartbeat", { sequence: 1 }));
  clock.tick(4500);
  assert.equal(client.connection.value.state, "connected");
  clock.tick(1500); // 6 s since the last frame
  assert.equal(ws.closedWith, 4408);
  assert.equal(client.connection.value.state, "reconnecting");
  clock.tick(1); // a 0 ms timer set inside a tick fires 1 ms later
  assert.equal(FakeSocket.instances.length, 2);
  client.stop();
});

Deno.test("DashboardClient dispatches by type and ignores invalid frames", () => {
  const { client, last } = setup();
  const seen: string[] = [];
  const off = client.on("agent:status", (m) => seen.push(m.payload.agent.id));
  client.on("error", (m) => seen.push(m.payload.code));
  client.start();
  last().open();
  const agent = {
    id: "a-1",
    name: "one",
    type: "shell",
    status: "online",
    capabilities: [],
    hostname: "h",
    connectedAt: 1,
    lastSeenAt: 2,
    currentCommandId: null,
  };
  last().receive("not json");
  last().receive({ type: "agent:status" });
  last().receive(
    envelope("agent:status", { agent: { ...agent, status: "weird" } }),
  );
  last().receive(envelope("agent:status", { agent }));
  last().receive(
    envelope("error", {
      code: "QUEUE_FULL",
      message: "full",
      recoverable: true,
    }),
  );
  off();
  last().receive(envelope("agent:status", { agent }));
  assert.deepEqual(seen, ["a-1", "QUEUE_FULL"]);
  client.stop();
});

Deno.test("DashboardClient.send() returns the id and drops while closed", () => {
  const { client, last } = setup();
  assert.match(client.send("heartbeat", { sequence: 1 }), /^d-/);
  client.start();
  last().open();
  assert.equal(
    client.send("terminal:resume", { commandId: "c", afterSeq: 0 }, "r-1"),
    "r-1",
  );
  const sent = last().sent as { type: string; id?: string }[];
  assert.deepEqual(sent.map((m) => [m.type, m.id !== undefined]), [
    ["dashboard:connect", true],
    ["terminal:resume", true],
  ]);
  assert.equal(sent[1].id, "r-1");
  client.stop();
});

Deno.test("DashboardClient keeps a socket whose heartbeat timer was held back (background tab)", () => {
  const { clock, client, last } = setup();
  client.start();
  const ws = last();
  ws.open();
  const beats = () => ws.sent.filter((m) => m.type === "heartbeat").length;
  clock.tick(1500);
  assert.equal(beats(), 1);
  // A throttled tab: the interval runs once after a minute, not 40 times.
  clock.jump(60_000);
  assert.equal(ws.closedWith, null, "not closed as dead");
  assert.equal(client.connection.value.state, "connected");
  assert.equal(beats(), 2, "a heartbeat went out instead");
  ws.receive(envelope("heartbeat", { sequence: 2 })); // the echo
  clock.tick(4500);
  assert.equal(client.connection.value.state, "connected");
  // Watched silence still counts: dead 5 s after the last frame.
  clock.tick(1500);
  assert.equal(ws.closedWith, 4408);
  assert.equal(client.connection.value.state, "reconnecting");
  client.stop();
});

Deno.test("DashboardClient gives up on a WebSocket attempt that never answers", () => {
  FakeSocket.instances = [];
  FakeEventSource.instances = [];
  const { clock, timers } = fakeTimers();
  const client = new DashboardClient({
    url: "ws://test/ws/dashboard",
    WebSocket: FakeSocket,
    EventSource: FakeEventSource,
    timers,
    random: () => 0.5,
  });
  const last = () => FakeSocket.instances.at(-1)!;
  client.start();
  clock.tick(4999);
  assert.equal(client.connection.value.state, "connecting");
  clock.tick(1);
  assert.equal(last().closedWith, 4408, "the held attempt is closed");
  assert.equal(client.connection.value.state, "reconnecting");
  assert.match(client.connection.value.lastError ?? "", /connect timeout/);
  // Two more attempts that never answer: then the SSE fallback starts.
  for (let i = 0; i < 2; i++) {
    clock.tick(Math.max(1, client.connection.value.nextRetryAt! - clock.now));
    assert.equal(FakeSocket.instances.length, 2 + i);
    assert.equal(client.connection.value.transport, "websocket");
    clock.tick(5000);
    assert.equal(last().closedWith, 4408);
  }
  clock.tick(1);
  assert.equal(client.connection.value.transport, "sse");
  assert.equal(FakeEventSource.instances.length, 1);
  assert.equal(FakeSocket.instances.length, 3);
  // An attempt that opens in time is not closed by the timer.
  client.reconnect();
  last().open();
  last().receive(envelope("heartbeat", { sequence: 1 }));
  clock.tick(4000);
  assert.equal(last().closedWith, null);
  assert.equal(client.connection.value.state, "connected");
  client.stop();
});
