import assert from "node:assert/strict";
import { Outbox, type OutboxChunk } from "./outbox.ts";

const chunk = (commandId: string, seq: number, data: string): OutboxChunk => ({
  commandId,
  seq,
  stream: "stdout",
  data,
});

/** A send that records chunks and sizes each frame as its data length. */
function recorder(connected = () => true) {
  const sent: string[] = [];
  const send = (c: OutboxChunk) => {
    if (!connected()) return 0;
    sent.push(`${c.commandId}:${c.seq}`);
    return c.data.length;
  };
  return { sent, send };
}

Deno.test("Outbox.ack() frees chunks up to seq", () => {
  const outbox = new Outbox(1000);
  outbox.add(chunk("c1", 1, "aaa"));
  outbox.add(chunk("c1", 2, "bb"));
  outbox.add(chunk("c1", 3, "c"));
  assert.equal(outbox.bytes, 6);
  assert.equal(outbox.ack("c1", 2), 2);
  assert.equal(outbox.bytes, 1);
  assert.deepEqual(outbox.unacked(), [chunk("c1", 3, "c")]);
  assert.equal(outbox.ack("c1", 2), 0);
  assert.equal(outbox.ack("other", 9), 0);
  assert.equal(outbox.ack("c1", 3), 1);
  assert.deepEqual(outbox.unacked(), []);
  assert.equal(outbox.bytes, 0);
});

Deno.test("Outbox.sendUnsent() sends while the bytes in flight are under the window", () => {
  const outbox = new Outbox(10);
  const { sent, send } = recorder();
  outbox.add(chunk("c1", 1, "123456"));
  outbox.add(chunk("c1", 2, "123456"));
  outbox.add(chunk("c1", 3, "1"));
  // 6 < 10: the second goes out too (12 in flight), then nothing more.
  assert.equal(outbox.sendUnsent("c1", send), false);
  assert.deepEqual(sent, ["c1:1", "c1:2"]);
  assert.equal(outbox.inFlightBytes, 12);
  assert.equal(outbox.full, true);
  assert.equal(outbox.ack("c1", 1), 1);
  assert.equal(outbox.inFlightBytes, 6);
  assert.equal(outbox.full, false);
  assert.equal(outbox.sendUnsent("c1", send), true);
  assert.deepEqual(sent, ["c1:1", "c1:2", "c1:3"]);
  assert.equal(outbox.inFlightBytes, 7);
  // Nothing is dropped, however much is held.
  for (let seq = 4; seq < 100; seq++) outbox.add(chunk("c1", seq, "xxxx"));
  assert.equal(outbox.unacked("c1").length, 98);
  assert.equal(outbox.bytes, 7 + 96 * 4);
});

Deno.test("Outbox.sendUnsent() stops at a failed send and resends from there", () => {
  let up = true;
  const outbox = new Outbox(100);
  const { sent, send } = recorder(() => up);
  outbox.add(chunk("c1", 1, "a"));
  assert.equal(outbox.sendUnsent("c1", send), true);
  up = false;
  outbox.add(chunk("c1", 2, "b"));
  assert.equal(outbox.sendUnsent("c1", send), false);
  up = true;
  // A new connection: everything unacked is unsent again.
  outbox.resetSent();
  assert.equal(outbox.inFlightBytes, 0);
  assert.equal(outbox.sendUnsent("c1", send), true);
  assert.deepEqual(sent, ["c1:1", "c1:1", "c1:2"]);
  assert.equal(outbox.inFlightBytes, 2);
});

Deno.test("Outbox.windowBytes can shrink; a smaller window holds back sends", () => {
  const outbox = new Outbox(100);
  const { sent, send } = recorder();
  outbox.windowBytes = 3;
  outbox.add(chunk("c1", 1, "aaa"));
  outbox.add(chunk("c1", 2, "b"));
  assert.equal(outbox.sendUnsent("c1", send), false);
  assert.deepEqual(sent, ["c1:1"]);
  assert.throws(() => outbox.windowBytes = 0, RangeError);
  assert.throws(() => new Outbox(-1), RangeError);
});

Deno.test("Outbox.forget() drops a command's chunks", () => {
  const outbox = new Outbox(3);
  const { send } = recorder();
  outbox.add(chunk("c1", 1, "ab"));
  outbox.add(chunk("c1", 2, "cd"));
  outbox.sendUnsent("c1", send);
  outbox.ack("c1", 1);
  // Seq 2 was never acknowledged: forget() counts it as dropped.
  assert.equal(outbox.forget("c1"), 1);
  assert.equal(outbox.forget("c1"), 0);
  assert.deepEqual(outbox.unacked(), []);
  assert.equal(outbox.bytes, 0);
  assert.equal(outbox.inFlightBytes, 0);
});

Deno.test("Outbox.ack() of chunks never sent (acked after a reconnect) keeps the rest in order", () => {
  const outbox = new Outbox(100);
  const { sent, send } = recorder();
  for (let seq = 1; seq <= 4; seq++) outbox.add(chunk("c1", seq, "ab"));
  outbox.sendUnsent("c1", send);
  outbox.resetSent();
  // The server had stored up to 3: the agent resends only seq 4.
  assert.equal(outbox.ack("c1", 3), 3);
  assert.equal(outbox.inFlightBytes, 0);
  assert.equal(outbox.sendUnsent("c1", send), true);
  assert.deepEqual(sent, ["c1:1", "c1:2", "c1:3", "c1:4", "c1:4"]);
  assert.equal(outbox.inFlightBytes, 2);
});

Deno.test("Outbox.ack() and forget() report the UTF-8 bytes they free (for the GC nudge)", () => {
  const freed: number[] = [];
  const outbox = new Outbox(1000, (bytes) => freed.push(bytes));
  outbox.add(chunk("c1", 1, "aaa"));
  outbox.add(chunk("c1", 2, "é")); // 2 UTF-8 bytes
  outbox.add(chunk("c1", 3, "cccc"));
  outbox.ack("c1", 2);
  assert.deepEqual(freed, [5]);
  outbox.ack("c1", 2); // nothing freed: not reported
  assert.deepEqual(freed, [5]);
  outbox.forget("c1");
  assert.deepEqual(freed, [5, 4]);
});
