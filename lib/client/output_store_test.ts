import assert from "node:assert/strict";
import { OutputStore, TRIMMED_MARKER } from "./output_store.ts";
import { earlierPage } from "./test_fakes.ts";

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
  // Unanswered requests from the start are asked for again on a new
  // connection (with a snapshot allowed), not resumed by map.
  assert.deepEqual(store.resumeMap(), {});
  store.connectionReset();
  assert.deepEqual(asked.slice(50), ["c47", "c48", "c49"]);
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

const screen = (seq: number) => ({
  agentId: "a",
  commandId: "c",
  seq,
  cols: 80,
  rows: 24,
  data: `[screen ${seq}]`,
});

Deno.test("OutputStore asks for a first, mid-stream command with a snapshot allowed; a later gap without", () => {
  const asked: [string, number, boolean][] = [];
  const store = new OutputStore({
    requestResume: (id, after, snapshot) => asked.push([id, after, snapshot]),
  });
  // Live output of a command never seen: ask from 0, a snapshot allowed.
  assert.equal(store.receive(chunk(12)), "held");
  assert.deepEqual(asked, [["c", 0, true]]);
  // The answer: the screen at 9, then 10 and 11 from storage.
  assert.equal(store.snapshot(screen(9)), true);
  assert.equal(store.receive(chunk(10)), "written");
  assert.equal(store.receive(chunk(11)), "written");
  assert.equal(store.fullText("c"), "10;11;12;");
  assert.equal(store.lastSeq("c"), 12);
  // A chunk the screen stands for is a duplicate.
  assert.equal(store.receive(chunk(9)), "duplicate");
  // A gap later is filled by seq, no snapshot.
  store.receive(chunk(14));
  assert.deepEqual(asked, [["c", 0, true], ["c", 12, false]]);
});

Deno.test("OutputStore.snapshot() replaces the cache, releases held output after it, and is ignored when not ahead", () => {
  const events: string[] = [];
  const store = new OutputStore();
  store.subscribe((e) =>
    events.push(e.kind === "output" ? `out ${e.seq}` : e.kind)
  );
  store.receive(chunk(1));
  store.receive(chunk(5)); // held
  store.receive(chunk(6)); // held
  assert.equal(store.snapshot(screen(5)), true);
  // 5 is in the screen; 6 is written after it; 1 is gone from the cache.
  assert.deepEqual(events, ["out 1", "snapshot", "out 6"]);
  assert.equal(store.fullText("c"), "6;");
  assert.deepEqual(
    { ...store.screen("c"), earlier: [...store.screen("c")!.earlier] },
    {
      seq: 5,
      cols: 80,
      rows: 24,
      data: "[screen 5]",
      earlier: [],
      earlierFrom: 6,
      more: true,
    },
  );
  assert.equal(store.isWaiting("c"), false);
  // An older or equal screen changes nothing.
  assert.equal(store.snapshot(screen(6)), false);
  assert.equal(store.snapshot(screen(3)), false);
  assert.equal(store.screen("c")?.seq, 5);
});

Deno.test("OutputStore.earlier() prepends contiguous pages and stops offering when nothing is left or over the bound", () => {
  const store = new OutputStore({ maxBytesPerCommand: 100 });
  // Without a screen there is nothing to prepend to.
  store.receive(chunk(1));
  assert.equal(store.earlier(earlierPage(1, 1, "x")), false);
  store.snapshot(screen(9));
  assert.equal(store.earlier(earlierPage(6, 9, "6-9;")), true);
  assert.equal(store.earlier(earlierPage(4, 5, "4-5;")), true);
  const view = store.screen("c")!;
  assert.deepEqual(view.earlier, ["4-5;", "6-9;"]);
  assert.equal(view.earlierFrom, 4);
  assert.equal(view.more, true);
  // Over the per-command bound: kept out, and no more offered.
  assert.equal(store.earlier(earlierPage(2, 3, "y".repeat(100))), false);
  assert.equal(store.screen("c")!.more, false);
});

Deno.test("OutputStore drops the screen first when the output after it passes the bound", () => {
  const store = new OutputStore({ maxBytesPerCommand: 30 });
  store.snapshot({ ...screen(1), data: "s".repeat(20) });
  store.receive({ ...chunk(2), data: "x".repeat(8) });
  assert.equal(store.screen("c")?.seq, 1);
  store.receive({ ...chunk(3), data: "y".repeat(8) });
  assert.equal(store.screen("c"), undefined);
  assert.deepEqual(store.text("c"), [
    TRIMMED_MARKER,
    "x".repeat(8),
    "y".repeat(8),
  ]);
});

Deno.test("OutputStore: live output between a snapshot and the chunks replayed after it waits for them, asking nothing more", () => {
  const asked: [string, number, boolean][] = [];
  const store = new OutputStore({
    requestResume: (id, after, snapshot) => asked.push([id, after, snapshot]),
  });
  assert.equal(store.ensure("c"), true);
  assert.equal(store.snapshot(screen(9)), true);
  // Live 12 overtakes the replay of 10 and 11.
  assert.equal(store.receive(chunk(12)), "held");
  assert.equal(store.receive(chunk(10)), "written");
  assert.equal(store.receive(chunk(11)), "written");
  assert.equal(store.fullText("c"), "10;11;12;");
  assert.deepEqual(asked, [["c", 0, true]]);
});
