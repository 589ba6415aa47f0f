import assert from "node:assert/strict";
import { CLOSE_CODES, toDashboard } from "../protocol.ts";
import { Broadcaster, sendFrame } from "./broadcaster.ts";
import { type Peer, RecordingPeer } from "./peer.ts";

const MESSAGE = toDashboard("heartbeat", { sequence: 1 });
const FRAME = JSON.stringify(MESSAGE);

function setup(onError?: (peer: Peer, error: unknown) => void) {
  return new Broadcaster({ maxBufferedBytes: 1024, onError });
}

Deno.test("Broadcaster.add() returns false for a duplicate peer", () => {
  const broadcaster = setup();
  const peer = new RecordingPeer("p1");
  assert.equal(broadcaster.add(peer), true);
  assert.equal(broadcaster.add(peer), false);
  assert.equal(broadcaster.add(new RecordingPeer("p1")), false);
  assert.equal(broadcaster.size, 1);
  assert.deepEqual(broadcaster.peers(), [peer]);
});

Deno.test("Broadcaster.remove() returns false for a peer that is not there", () => {
  const broadcaster = setup();
  const peer = new RecordingPeer("p1");
  broadcaster.add(peer);
  assert.equal(broadcaster.remove(peer), true);
  assert.equal(broadcaster.remove(peer), false);
  assert.equal(broadcaster.remove(new RecordingPeer("p2")), false);
  assert.equal(broadcaster.size, 0);
});

Deno.test("Broadcaster.broadcast() serializes the message once", () => {
  const broadcaster = setup();
  const peers = [1, 2, 3].map((i) => new RecordingPeer(`p${i}`));
  for (const peer of peers) broadcaster.add(peer);
  const original = JSON.stringify;
  let calls = 0;
  JSON.stringify = ((...args: Parameters<typeof original>) => {
    calls++;
    return original(...args);
  }) as typeof JSON.stringify;
  let sent;
  try {
    sent = broadcaster.broadcast(MESSAGE);
  } finally {
    JSON.stringify = original;
  }
  assert.equal(calls, 1);
  assert.equal(sent, 3);
  for (const peer of peers) assert.deepEqual(peer.frames, [FRAME]);
  // The very same string instance reached every peer.
  assert.ok(peers.every((p) => Object.is(p.frames[0], peers[0].frames[0])));
});

Deno.test("Broadcaster.broadcast() skips closed peers", () => {
  const broadcaster = setup();
  const open = new RecordingPeer("open");
  const closed = new RecordingPeer("closed");
  closed.close(1000, "bye");
  broadcaster.add(open);
  broadcaster.add(closed);
  assert.equal(broadcaster.broadcast(MESSAGE), 1);
  assert.deepEqual(open.frames, [FRAME]);
  assert.deepEqual(closed.frames, []);
  assert.deepEqual(closed.closed, { code: 1000, reason: "bye" });
});

Deno.test("Broadcaster.broadcast() goes on after a peer throws and calls onError", () => {
  const errors: [string, unknown][] = [];
  const broadcaster = setup((peer, error) => errors.push([peer.id, error]));
  const first = new RecordingPeer("first");
  const failing = new RecordingPeer("failing");
  const last = new RecordingPeer("last");
  failing.failSends = true;
  for (const peer of [first, failing, last]) broadcaster.add(peer);
  assert.equal(broadcaster.broadcast(MESSAGE), 2);
  assert.deepEqual(first.frames, [FRAME]);
  assert.deepEqual(failing.frames, []);
  assert.deepEqual(last.frames, [FRAME]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0][0], "failing");
  assert.ok(errors[0][1] instanceof Error);
  assert.equal((errors[0][1] as Error).message, "send failed");
  assert.equal(failing.closed, null);
});

Deno.test("Broadcaster.broadcast() without onError still isolates a throwing peer", () => {
  const broadcaster = setup();
  const failing = new RecordingPeer("failing");
  const other = new RecordingPeer("other");
  failing.failSends = true;
  broadcaster.add(failing);
  broadcaster.add(other);
  assert.equal(broadcaster.broadcast(MESSAGE), 1);
  assert.deepEqual(other.frames, [FRAME]);
});

Deno.test("Broadcaster.broadcast() closes a slow peer with 4503 and sends it nothing", () => {
  const broadcaster = setup();
  const slow = new RecordingPeer("slow");
  const fast = new RecordingPeer("fast");
  slow.bufferedAmount = 2048;
  broadcaster.add(slow);
  broadcaster.add(fast);
  assert.equal(broadcaster.broadcast(MESSAGE), 1);
  assert.deepEqual(slow.frames, []);
  assert.deepEqual(slow.closed, {
    code: CLOSE_CODES.SLOW_CONSUMER.code,
    reason: "Slow consumer",
  });
  assert.equal(CLOSE_CODES.SLOW_CONSUMER.code, 4503);
  assert.deepEqual(fast.frames, [FRAME]);
  // Once closed it is skipped, not closed again.
  assert.equal(broadcaster.broadcast(MESSAGE), 1);
  assert.deepEqual(slow.frames, []);
});

Deno.test("Broadcaster.broadcast() closes a peer whose buffer plus the frame is over the cap", () => {
  const broadcaster = setup();
  const nearlyFull = new RecordingPeer("nearly-full");
  const exact = new RecordingPeer("exact");
  nearlyFull.bufferedAmount = 1024 - FRAME.length + 1;
  exact.bufferedAmount = 1024 - FRAME.length;
  broadcaster.add(nearlyFull);
  broadcaster.add(exact);
  assert.equal(broadcaster.broadcast(MESSAGE), 1);
  assert.equal(nearlyFull.closed?.code, 4503);
  assert.deepEqual(nearlyFull.frames, []);
  assert.equal(exact.closed, null);
  assert.deepEqual(exact.frames, [FRAME]);
});

Deno.test("Broadcaster.broadcast() skips the except peer", () => {
  const broadcaster = setup();
  const origin = new RecordingPeer("origin");
  const other = new RecordingPeer("other");
  broadcaster.add(origin);
  broadcaster.add(other);
  assert.equal(broadcaster.broadcast(MESSAGE, origin), 1);
  assert.deepEqual(origin.frames, []);
  assert.deepEqual(other.frames, [FRAME]);
});

Deno.test("Broadcaster.broadcast() sends nothing to removed peers", () => {
  const broadcaster = setup();
  const peer = new RecordingPeer("p1");
  broadcaster.add(peer);
  broadcaster.remove(peer);
  assert.equal(broadcaster.broadcast(MESSAGE), 0);
  assert.deepEqual(peer.frames, []);
});

Deno.test("Broadcaster.sendTo() applies the slow-consumer rule to one peer", () => {
  const broadcaster = setup();
  const peer = new RecordingPeer("p1");
  assert.equal(broadcaster.sendTo(peer, MESSAGE), true);
  assert.deepEqual(peer.frames, [FRAME]);
  peer.bufferedAmount = 4096;
  assert.equal(broadcaster.sendTo(peer, MESSAGE), false);
  assert.equal(peer.closed?.code, 4503);
  assert.equal(peer.frames.length, 1);
});

Deno.test("sendFrame() returns false for a closed peer without closing it again", () => {
  const peer = new RecordingPeer("p1");
  peer.close(1001, "away");
  assert.equal(sendFrame(peer, FRAME, { maxBufferedBytes: 1 }), false);
  assert.deepEqual(peer.closed, { code: 1001, reason: "away" });
});

Deno.test("Broadcaster constructor throws RangeError for a non-positive cap", () => {
  assert.throws(
    () => new Broadcaster({ maxBufferedBytes: 0 }),
    RangeError,
  );
  assert.throws(
    () => new Broadcaster({ maxBufferedBytes: Number.NaN }),
    RangeError,
  );
});

Deno.test("Broadcaster.broadcast() over maxTotalBufferedBytes closes the largest backlogs first with 4503", () => {
  const shed: [string, number, number][] = [];
  const broadcaster = new Broadcaster({
    maxBufferedBytes: 1000,
    maxTotalBufferedBytes: 1000,
    onShed: (peer, bytes, total) => shed.push([peer.id, bytes, total]),
  });
  const backlogs = [100, 700, 50, 400, 300];
  const peers = backlogs.map((bytes, i) => {
    const peer = new RecordingPeer(`p${i}`);
    peer.bufferedAmount = bytes;
    broadcaster.add(peer);
    return peer;
  });
  // Total 1550: shedding p1 (700) leaves 850, under the cap.
  assert.equal(broadcaster.broadcast(MESSAGE), 4);
  assert.deepEqual(peers.map((p) => p.closed?.code ?? null), [
    null,
    CLOSE_CODES.SLOW_CONSUMER.code,
    null,
    null,
    null,
  ]);
  assert.equal(broadcaster.size, 4);
  // Every peer got the frame before the shedding.
  assert.deepEqual(peers.map((p) => p.frames.length), [1, 1, 1, 1, 1]);
  // 300 + 50 + 800 + 700: p3 goes (1050 left, still over), then p4.
  peers[0].bufferedAmount = 300;
  peers[3].bufferedAmount = 800;
  peers[4].bufferedAmount = 700;
  assert.equal(broadcaster.broadcast(MESSAGE), 2);
  assert.equal(peers[3].closed?.code, CLOSE_CODES.SLOW_CONSUMER.code);
  assert.equal(peers[4].closed?.code, CLOSE_CODES.SLOW_CONSUMER.code);
  assert.deepEqual(broadcaster.peers(), [peers[0], peers[2]]);
  assert.deepEqual(shed, [
    ["p1", 700, 1550],
    ["p3", 800, 1850],
    ["p4", 700, 1050],
  ]);
});

Deno.test("Broadcaster.broadcast() without maxTotalBufferedBytes sheds no peer under its own cap", () => {
  const broadcaster = new Broadcaster({ maxBufferedBytes: 1000 });
  const peers = [900, 900, 900].map((bytes, i) => {
    const peer = new RecordingPeer(`p${i}`);
    peer.bufferedAmount = bytes;
    broadcaster.add(peer);
    return peer;
  });
  assert.equal(broadcaster.broadcast(MESSAGE), 3);
  assert.ok(peers.every((p) => p.closed === null));
});

Deno.test("Broadcaster.skipOutputUpTo(): that peer gets no output chunk of that command up to the seq, others all; forgotten at the first later chunk", () => {
  const relayed: string[] = [];
  const broadcaster = new Broadcaster({
    maxBufferedBytes: 1024,
    relay: (frame) => relayed.push(frame),
  });
  const moved = new RecordingPeer("moved");
  const other = new RecordingPeer("other");
  broadcaster.add(moved);
  broadcaster.add(other);
  broadcaster.skipOutputUpTo(moved, "c1", 2);
  const chunk = (commandId: string, seq: number) =>
    toDashboard("terminal:output", {
      agentId: "a1",
      commandId,
      seq,
      stream: "stdout",
      data: `${commandId}:${seq}`,
    });
  for (const seq of [1, 2]) broadcaster.broadcast(chunk("c1", seq));
  broadcaster.broadcast(chunk("c2", 1));
  broadcaster.broadcastFrame(JSON.stringify(chunk("c1", 2)), undefined, {
    commandId: "c1",
    seq: 2,
  });
  broadcaster.broadcast(chunk("c1", 3));
  // Forgotten: an old seq again now reaches it (the client drops it).
  broadcaster.broadcast(chunk("c1", 1));
  const seen = (peer: RecordingPeer) =>
    peer.frames.map((f) => JSON.parse(f).payload.data);
  assert.deepEqual(seen(moved), ["c2:1", "c1:3", "c1:1"]);
  assert.deepEqual(seen(other), [
    "c1:1",
    "c1:2",
    "c2:1",
    "c1:2",
    "c1:3",
    "c1:1",
  ]);
  // Every broadcast went to the other nodes as it was.
  assert.equal(relayed.length, 5);
});
