import assert from "node:assert/strict";
import { envelope } from "../protocol.ts";
import { DashboardClient } from "./socket.ts";
import { FakeSocket, fakeTimers, flush } from "./test_fakes.ts";

function setup() {
  FakeSocket.instances = [];
  const { clock, timers } = fakeTimers();
  const calls: number[] = [];
  const client = new DashboardClient({
    url: "ws://test/ws/dashboard",
    WebSocket: FakeSocket,
    EventSource: null,
    timers,
    random: () => 0.5,
    // No heartbeat traffic in these tests: the socket stays up.
    heartbeatIntervalMs: 3_600_000,
    deadAfterMs: 7_200_000,
    refreshSession: () => {
      calls.push(clock.now);
      return Promise.resolve();
    },
  });
  const socket = () => FakeSocket.instances[FakeSocket.instances.length - 1];
  const refreshes = () =>
    socket().sent.filter((m) => m.type === "auth:refresh");
  const ack = (expiresAt: number) =>
    envelope("connection:ack", {
      connectionId: "c-1",
      serverVersion: "1.0.0",
      heartbeatIntervalMs: 60_000,
      user: { id: "alice", role: "operator" },
      expiresAt,
    });
  return { clock, client, socket, refreshes, calls, ack };
}

Deno.test("DashboardClient renews the session halfway to expiry, then sends auth:refresh without a token", async () => {
  const { clock, client, socket, refreshes, calls, ack } = setup();
  client.start();
  socket().open();
  const start = clock.now;
  socket().receive(ack(start + 600_000));
  clock.tick(299_999);
  assert.deepEqual(calls, []);
  clock.tick(1);
  assert.deepEqual(calls, [start + 300_000]);
  await flush();
  assert.deepEqual(refreshes().map((m) => m.payload), [{}]);
  // The server renewed it: the next refresh is halfway to the new expiry.
  socket().receive(
    envelope("auth:refreshed", { expiresAt: clock.now + 600_000 }),
  );
  clock.tick(300_000);
  await flush();
  assert.equal(calls.length, 2);
  assert.equal(refreshes().length, 2);
  client.stop();
});

Deno.test("DashboardClient does not ask again when auth:refreshed keeps the same expiry", async () => {
  const { clock, client, socket, refreshes, calls, ack } = setup();
  client.start();
  socket().open();
  const expiresAt = clock.now + 60_000;
  socket().receive(ack(expiresAt));
  clock.tick(30_000);
  await flush();
  assert.equal(refreshes().length, 1);
  socket().receive(envelope("auth:refreshed", { expiresAt }));
  clock.tick(60_000);
  await flush();
  assert.equal(refreshes().length, 1);
  assert.equal(calls.length, 1);
  client.stop();
});

Deno.test("DashboardClient cancels a scheduled refresh when the connection drops", async () => {
  const { clock, client, socket, calls, ack } = setup();
  client.start();
  socket().open();
  socket().receive(ack(clock.now + 60_000));
  socket().fail(1006);
  clock.tick(30_000);
  await flush();
  assert.deepEqual(calls, []);
  client.stop();
});
