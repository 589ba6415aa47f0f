import assert from "node:assert/strict";
import { Outbox, type OutboxChunk } from "./outbox.ts";

const chunk = (commandId: string, seq: number, data: string): OutboxChunk => ({
  commandId,
  seq,
  stream: "stdout",
  data,
});

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

Deno.test("Outbox.add() drops the oldest chunks over the bound and reports the gap", () => {
  const outbox = new Outbox(10);
  assert.deepEqual(outbox.add(chunk("c1", 1, "1234")), []);
  assert.deepEqual(outbox.add(chunk("c1", 2, "5678")), []);
  assert.deepEqual(outbox.add(chunk("c2", 1, "é")), []);
  assert.deepEqual(outbox.add(chunk("c2", 2, "abcdef")), [
    { commandId: "c1", fromSeq: 1, toSeq: 2 },
  ]);
  assert.deepEqual(outbox.unacked(), [
    chunk("c2", 1, "é"),
    chunk("c2", 2, "abcdef"),
  ]);
  assert.equal(outbox.bytes, 8);
  assert.deepEqual(outbox.gap("c1"), { commandId: "c1", fromSeq: 1, toSeq: 2 });
  assert.equal(outbox.gap("c2"), undefined);
});

Deno.test("Outbox.add() keeps the newest chunk even when it alone is over the bound", () => {
  const outbox = new Outbox(4);
  outbox.add(chunk("c1", 1, "ab"));
  assert.deepEqual(outbox.add(chunk("c1", 2, "123456")), [
    { commandId: "c1", fromSeq: 1, toSeq: 1 },
  ]);
  assert.deepEqual(outbox.unacked("c1"), [chunk("c1", 2, "123456")]);
});

Deno.test("Outbox.forget() drops a command's chunks and gap", () => {
  const outbox = new Outbox(3);
  outbox.add(chunk("c1", 1, "ab"));
  outbox.add(chunk("c1", 2, "cd"));
  outbox.forget("c1");
  assert.deepEqual(outbox.unacked(), []);
  assert.equal(outbox.gap("c1"), undefined);
  assert.equal(outbox.bytes, 0);
});
