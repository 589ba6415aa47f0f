import assert from "node:assert/strict";
import type { ToAgent } from "../protocol.ts";
import { Broadcaster } from "./broadcaster.ts";
import { RecordingPeer } from "./peer.ts";
import { Registry } from "./registry.ts";
import { type Requester, SessionControl } from "./session_control.ts";

function setup(limits = { messagesPerSecond: 2, bytesPerSecond: 10 }) {
  let now = 0;
  const registry = new Registry();
  const dashboards = new Broadcaster({
    maxBufferedBytes: 1 << 20,
    maxTotalBufferedBytes: 1 << 24,
  });
  const dashboard = new RecordingPeer("d1");
  dashboards.add(dashboard);
  const sent: [string, ToAgent][] = [];
  const control = new SessionControl({
    registry,
    dashboards,
    sendToAgent: (agentId, message) => {
      sent.push([agentId, message]);
      return true;
    },
    ...limits,
    now: () => now,
  });
  for (const id of ["a1", "a2"]) {
    registry.connect({
      id,
      name: id,
      type: "shell",
      capabilities: [],
      hostname: "h",
    }, new RecordingPeer(`agent-${id}`));
    registry.setCurrentCommand(id, `cmd-${id}`);
  }
  const holders = () =>
    dashboard.frames.map((f) => JSON.parse(f)).filter((m) =>
      m.type === "session:controller"
    ).map((m) => [m.payload.agentId, m.payload.holder?.connectionId ?? null]);
  return {
    control,
    sent,
    holders,
    tick(ms: number) {
      now += ms;
    },
  };
}

const op: Requester = { userId: "u1", role: "operator", connectionId: "c1" };

Deno.test("SessionControl: closing a connection releases every terminal it held, once each", () => {
  const { control, holders } = setup();
  assert.equal(control.control(op, "a1", true), null);
  assert.equal(control.control(op, "a2", true), null);
  control.connectionClosed("c1");
  control.connectionClosed("c1");
  assert.deepEqual(holders(), [
    ["a1", "c1"],
    ["a2", "c1"],
    ["a1", null],
    ["a2", null],
  ]);
  assert.deepEqual(control.held(), []);
});

Deno.test("SessionControl: the input buckets refill continuously and are per connection", () => {
  const { control, sent, tick } = setup();
  control.control(op, "a1", true);
  control.input(op, "a1", "12345");
  control.input(op, "a1", "12345");
  // Two messages per second and ten bytes per second are used up.
  assert.throws(() => control.input(op, "a1", "x"), { code: "RATE_LIMIT" });
  tick(500); // one message and five bytes back
  assert.throws(() => control.input(op, "a1", "123456"), {
    code: "RATE_LIMIT",
    message: /bytes/,
  });
  control.input(op, "a1", "12345");
  assert.throws(() => control.resize(op, "a1", { cols: 80, rows: 24 }), {
    code: "RATE_LIMIT",
    message: /messages/,
  });
  // A closed connection's buckets are forgotten; a new one starts full.
  control.connectionClosed("c1");
  const next = { ...op, connectionId: "c2" };
  control.control(next, "a1", true);
  control.input(next, "a1", "1234567890");
  assert.deepEqual(
    sent.map(([agentId, m]) => [agentId, m.type, m.payload]),
    [
      ["a1", "terminal:input", { commandId: "cmd-a1", data: "12345" }],
      ["a1", "terminal:input", { commandId: "cmd-a1", data: "12345" }],
      ["a1", "terminal:input", { commandId: "cmd-a1", data: "12345" }],
      ["a1", "terminal:input", { commandId: "cmd-a1", data: "1234567890" }],
    ],
  );
});
