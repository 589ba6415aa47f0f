import assert from "node:assert/strict";
import { OutputStore } from "./output_store.ts";

const chunk = (seq: number) => ({
  agentId: "a",
  commandId: "c",
  seq,
  data: `${seq};`,
});

Deno.test("OutputStore asks for one replay per gap and not again while it is on its way", () => {
  const asked: [string, number][] = [];
  const store = new OutputStore({
    requestResume: (id, after) => asked.push([id, after]),
  });
  store.receive(chunk(1));
  assert.equal(store.receive(chunk(4)), "held");
  assert.deepEqual(asked, [["c", 1]]);
  // Live output goes on while the replay travels: no second request.
  assert.equal(store.receive(chunk(5)), "held");
  assert.equal(store.receive(chunk(2)), "written");
  assert.equal(store.receive(chunk(6)), "held");
  assert.deepEqual(asked, [["c", 1]]);
  store.receive(chunk(3));
  assert.equal(store.fullText("c"), "1;2;3;4;5;6;");
  // Filled: a new gap asks again.
  store.receive(chunk(8));
  assert.deepEqual(asked, [["c", 1], ["c", 6]]);
});

Deno.test("OutputStore counts the resume map as asked for, so a gap meanwhile asks nothing", () => {
  const asked: [string, number][] = [];
  const store = new OutputStore({
    requestResume: (id, after) => asked.push([id, after]),
  });
  store.receive(chunk(1));
  store.connectionReset();
  assert.deepEqual(store.resumeMap(), { c: 1 });
  // The reconnected socket delivers live chunk 5 before the replay of 2-4.
  assert.equal(store.receive(chunk(5)), "held");
  assert.deepEqual(asked, []);
  for (const seq of [2, 3, 4]) store.receive(chunk(seq));
  assert.equal(store.fullText("c"), "1;2;3;4;5;");
  assert.equal(store.receive(chunk(3)), "duplicate");
});

const out = (commandId: string, seq: number, data: string) => ({
  agentId: "a",
  commandId,
  seq,
  data,
});

Deno.test("OutputStore keeps a total budget, forgetting least recently used commands", () => {
  const store = new OutputStore({ maxBytesPerCommand: 40, maxTotalBytes: 100 });
  for (const id of ["c1", "c2", "c3"]) {
    store.receive(out(id, 1, "x".repeat(30)));
  }
  assert.equal(store.cachedBytes, 90);
  store.receive(out("c1", 2, "y".repeat(5))); // c1 is now the most recent
  store.receive(out("c4", 1, "z".repeat(30))); // 125 > 100: c2 goes
  assert.equal(store.cachedBytes, 95);
  assert.equal(store.text("c2"), undefined);
  assert.equal(store.lastSeq("c2"), undefined, "forgotten entirely");
  assert.equal(store.receivedBytes("c2"), 0);
  assert.equal(store.fullText("c1"), "x".repeat(30) + "y".repeat(5));
  assert.deepEqual(Object.keys(store.resumeMap()).sort(), ["c1", "c3", "c4"]);
  // The per-command bound still trims within a command.
  store.receive(out("c4", 2, "w".repeat(20)));
  assert.ok(store.fullText("c4").endsWith("w".repeat(20)));
  assert.ok(store.cachedBytes <= 100);
});

Deno.test("OutputStore bounds seqs and replay requests with the cache", () => {
  const asked: string[] = [];
  const store = new OutputStore({
    maxCommands: 3,
    requestResume: (id) => asked.push(id),
  });
  // Commands ensured but never answered (no output) must not pile up.
  for (let i = 0; i < 50; i++) store.ensure(`c${i}`);
  assert.equal(asked.length, 50);
  assert.equal(store.size, 3);
  assert.deepEqual(Object.keys(store.resumeMap()), ["c47", "c48", "c49"]);
  assert.equal(store.isWaiting("c0"), false);
  // A held chunk of a forgotten command is dropped with it.
  store.receive(out("h", 3, "late"));
  assert.equal(store.isWaiting("h"), true);
  for (let i = 0; i < 3; i++) store.ensure(`d${i}`);
  assert.equal(store.isWaiting("h"), false);
  assert.equal(store.lastSeq("h"), undefined);
});

Deno.test("OutputStore's total budget is lifted with an unbounded per-command cache", () => {
  const store = new OutputStore({ maxBytesPerCommand: Infinity });
  const big = "x".repeat(8 * 1024 * 1024);
  for (let seq = 1; seq <= 5; seq++) store.receive(out("c", seq, big));
  store.receive(out("d", 1, "small"));
  assert.equal(store.fullText("c").length, 5 * big.length);
});
