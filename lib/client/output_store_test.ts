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
