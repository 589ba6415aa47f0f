import assert from "node:assert/strict";
import { TerminalBuffer } from "./terminal_buffer.ts";
import { flush } from "./test_fakes.ts";

function setup(
  options: {
    maxPendingWrites?: number;
    maxPendingBytes?: number;
    immediateWhenIdle?: boolean;
  } = { immediateWhenIdle: false },
) {
  const writes: { data: string; done: () => void }[] = [];
  const term = {
    write: (data: string, done?: () => void) =>
      writes.push({ data, done: done! }),
  };
  let frames: (() => void)[] = [];
  const buffer = new TerminalBuffer(term, {
    ...options,
    requestFrame: (cb) => frames.push(cb),
    cancelFrame: () => (frames = []),
  });
  const frame = () => {
    const run = frames;
    frames = [];
    run.forEach((cb) => cb());
  };
  return { buffer, writes, frame, frameCount: () => frames.length };
}

Deno.test("TerminalBuffer coalesces writes of one frame into one term.write()", () => {
  const { buffer, writes, frame, frameCount } = setup();
  buffer.write("a");
  buffer.write("b");
  buffer.write("c");
  assert.equal(writes.length, 0);
  assert.equal(frameCount(), 1, "one frame requested");
  frame();
  assert.deepEqual(writes.map((w) => w.data), ["abc"]);
  buffer.write("d");
  frame();
  assert.deepEqual(writes.map((w) => w.data), ["abc", "d"]);
});

Deno.test("TerminalBuffer holds data while xterm is behind and never drops it", () => {
  const { buffer, writes, frame, frameCount } = setup({
    maxPendingWrites: 2,
    immediateWhenIdle: false,
  });
  buffer.write("1");
  frame();
  buffer.write("2");
  frame();
  buffer.write("3");
  buffer.write("4");
  assert.equal(frameCount(), 0, "blocked: no frame requested");
  frame();
  assert.equal(writes.length, 2);
  assert.equal(buffer.queuedBytes, 2);
  writes[0].done();
  assert.equal(frameCount(), 1);
  buffer.write("5");
  frame();
  assert.deepEqual(writes.map((w) => w.data), ["1", "2", "345"]);
  writes[1].done();
  writes[2].done();
  assert.equal(buffer.inFlightWrites, 0);
  assert.equal(frameCount(), 0, "nothing left to write");
});

Deno.test("TerminalBuffer applies the byte limit", () => {
  const { buffer, writes, frame } = setup({
    maxPendingBytes: 10,
    immediateWhenIdle: false,
  });
  buffer.write("x".repeat(12));
  frame();
  buffer.write("y");
  frame();
  assert.equal(writes.length, 1);
  assert.equal(buffer.blocked, true);
  writes[0].done();
  frame();
  assert.deepEqual(writes.map((w) => w.data.length), [12, 1]);
});

Deno.test("TerminalBuffer.clear() drops queued data and stale callbacks", () => {
  const { buffer, writes, frame, frameCount } = setup({
    maxPendingWrites: 1,
    immediateWhenIdle: false,
  });
  buffer.write("old");
  frame();
  buffer.write("held");
  buffer.clear();
  assert.equal(buffer.queuedBytes, 0);
  buffer.write("new");
  frame();
  writes[0].done(); // stale: must not unblock the second write twice
  assert.deepEqual(writes.map((w) => w.data), ["old", "new"]);
  assert.equal(buffer.inFlightWrites, 1);
  assert.equal(frameCount(), 0);
});

Deno.test("TerminalBuffer hands writes to an idle xterm at the end of the task, then coalesces per frame", async () => {
  const { buffer, writes, frame, frameCount } = setup({});
  // One task's writes (a reset and a redraw) go over together, no frame.
  buffer.write("\x1bc");
  buffer.write("a");
  assert.equal(writes.length, 0);
  await flush();
  assert.deepEqual(writes.map((w) => w.data), ["\x1bca"]);
  assert.equal(frameCount(), 0, "no frame waited for");
  // xterm has not parsed that yet: the next writes wait for a frame.
  buffer.write("b");
  buffer.write("c");
  await flush();
  assert.equal(frameCount(), 1);
  frame();
  assert.deepEqual(writes.map((w) => w.data), ["\x1bca", "bc"]);
  // Parsed, but a frame is pending for "d": "e" joins it, in order.
  writes[0].done();
  buffer.write("d");
  writes[1].done();
  buffer.write("e");
  await flush();
  assert.equal(writes.length, 2);
  frame();
  assert.deepEqual(writes.map((w) => w.data), ["\x1bca", "bc", "de"]);
  // Idle again (everything parsed, nothing queued): at the end of the task.
  writes[2].done();
  buffer.write("f");
  await flush();
  assert.deepEqual(writes.map((w) => w.data), ["\x1bca", "bc", "de", "f"]);
  // Cleared before the task ended: nothing of it is written.
  writes[3].done();
  buffer.write("gone");
  buffer.clear();
  buffer.write("kept");
  await flush();
  assert.deepEqual(writes.slice(4).map((w) => w.data), ["kept"]);
  // Never after dispose.
  writes[4].done();
  buffer.dispose();
  buffer.write("h");
  await flush();
  assert.equal(writes.length, 5);
  assert.equal(frameCount(), 0);
});

Deno.test("TerminalBuffer.run() runs a step once the text before it is parsed, before the text after it", () => {
  const { buffer, writes, frame } = setup();
  const log: string[] = [];
  buffer.write("a");
  buffer.run(() => log.push(`step after ${writes.map((w) => w.data)}`));
  buffer.write("b");
  frame();
  // "a" went to xterm alone; the step waits for its callback.
  assert.deepEqual(writes.map((w) => w.data), ["a"]);
  assert.deepEqual(log, []);
  frame();
  assert.deepEqual(log, [], "still unparsed: the step waits");
  writes[0].done();
  frame();
  assert.deepEqual(log, ["step after a"]);
  assert.deepEqual(writes.map((w) => w.data), ["a", "b"]);
});

Deno.test("TerminalBuffer.clear() drops queued steps too", () => {
  const { buffer, writes, frame } = setup();
  let ran = false;
  buffer.write("a");
  buffer.run(() => (ran = true));
  buffer.clear();
  buffer.write("b");
  frame();
  writes.forEach((w) => w.done());
  frame();
  assert.equal(ran, false);
  assert.deepEqual(writes.map((w) => w.data), ["b"]);
});

function skipSetup(skipAfterBytes: number, keepBytes: number) {
  const writes: { data: string; done: () => void }[] = [];
  const skips: { tag: string; bytes: number }[] = [];
  let frames: (() => void)[] = [];
  const buffer = new TerminalBuffer({
    write: (data, done) => writes.push({ data, done: done! }),
  }, {
    immediateWhenIdle: false,
    maxPendingWrites: 1,
    skipAfterBytes,
    keepBytes,
    requestFrame: (cb) => frames.push(cb),
    cancelFrame: () => (frames = []),
    onSkip: (tag, bytes) => skips.push({ tag, bytes }),
    skipMarker: (bytes, atLineStart) =>
      `${atLineStart ? "" : "|"}<skipped ${bytes}>`,
  });
  const frame = () => {
    const run = frames;
    frames = [];
    run.forEach((cb) => cb());
  };
  return { buffer, writes, skips, frame };
}

Deno.test("TerminalBuffer skips ahead: tagged text waiting over the limit is dropped down to its newest part, from a line start, with a marker in its place", () => {
  const { buffer, writes, skips, frame } = skipSetup(20, 8);
  buffer.write("head\n");
  frame(); // xterm is now busy with "head\n" (one write at a time)
  buffer.write("l1\nl2\n", "c1");
  buffer.write("l3\nl4\n", "c1");
  buffer.write("l5\nl6\n", "c1");
  assert.deepEqual(skips, []); // 18 units waiting: under 20
  buffer.write("l7\nl8\n", "c1"); // 24: the run keeps its last 8 or fewer
  assert.deepEqual(skips, [{ tag: "c1", bytes: 18 }]);
  assert.equal(buffer.queuedBytes, "<skipped 18>l7\nl8\n".length);
  writes[0].done();
  frame();
  assert.deepEqual(writes.map((w) => w.data), [
    "head\n",
    "<skipped 18>l7\nl8\n",
  ]);
});

Deno.test("TerminalBuffer counts skipped output in UTF-8 bytes, and a marker followed only by skipped text stands for both", () => {
  const { buffer, writes, skips, frame } = skipSetup(10, 4);
  buffer.write("x");
  frame(); // busy
  buffer.write("é€€\nabc", "c1"); // 8 units, 13 bytes
  buffer.write("d\nef", "c1"); // 12 waiting: keep 4, from a line start
  assert.deepEqual(skips, [{ tag: "c1", bytes: 14 }]); // "é€€\nabc", "d\n"
  buffer.write("0123456789", "c1"); // drops "ef" and "012345" too
  assert.deepEqual(skips, [{ tag: "c1", bytes: 14 }, { tag: "c1", bytes: 8 }]);
  writes[0].done();
  frame();
  assert.deepEqual(writes.map((w) => w.data), ["x", "|<skipped 22>6789"]);
});

Deno.test("TerminalBuffer skips ahead only within the newest run of one tag: untagged text, steps and other tags are kept", () => {
  const { buffer, writes, skips, frame } = skipSetup(10, 4);
  buffer.write("x");
  frame(); // busy
  buffer.write("aaaaaa", "c1");
  buffer.write("HEADER"); // untagged: a barrier
  buffer.write("bb\nbbbb", "c2");
  // 19 units waiting; the c2 run (7) is over 4: cut after its line break.
  assert.deepEqual(skips, [{ tag: "c2", bytes: 3 }]);
  buffer.run(() => {});
  buffer.write("ccccc", "c2"); // after a step: a new run, 1 unit over
  assert.deepEqual(skips, [{ tag: "c2", bytes: 3 }, { tag: "c2", bytes: 1 }]);
  writes[0].done();
  frame();
  assert.deepEqual(writes.map((w) => w.data), [
    "x",
    "aaaaaaHEADER|<skipped 3>bbbb",
  ]);
});

Deno.test("TerminalBuffer hands xterm at most maxPendingBytes per write, and several writes per frame up to maxPendingWrites", () => {
  const writes: string[] = [];
  const frames: (() => void)[] = [];
  const buffer = new TerminalBuffer({ write: (data) => writes.push(data) }, {
    immediateWhenIdle: false,
    maxPendingBytes: 4,
    maxPendingWrites: 10,
    skipAfterBytes: Infinity,
    requestFrame: (cb) => frames.push(cb),
  });
  for (const piece of ["ab", "cd", "ef", "g", "hijkl"]) buffer.write(piece);
  frames.shift()!();
  // 4 units in flight block further writes (maxPendingBytes is a limit on
  // what is in flight too).
  assert.deepEqual(writes, ["abcd"]);
});

Deno.test("TerminalBuffer hands xterm per frame what it parses in frameBudgetMs, at the rate it parsed the last write", () => {
  let clock = 0;
  const writes: { data: string; done: () => void }[] = [];
  let frames: (() => void)[] = [];
  const buffer = new TerminalBuffer({
    write: (data, done) => writes.push({ data, done: done! }),
  }, {
    immediateWhenIdle: false,
    maxPendingBytes: 1024 * 1024,
    maxPendingWrites: 10,
    skipAfterBytes: Infinity,
    frameBudgetMs: 8,
    now: () => clock,
    requestFrame: (cb) => frames.push(cb),
  });
  const frame = () => {
    const run = frames;
    frames = [];
    run.forEach((cb) => cb());
  };
  const piece = "y".repeat(16 * 1024);
  for (let i = 0; i < 64; i++) buffer.write(piece); // 1 Mi units
  frame(); // no rate yet: up to maxPendingBytes at once
  assert.deepEqual(writes.map((w) => w.data.length), [1024 * 1024]);
  for (let i = 0; i < 64; i++) buffer.write(piece);
  clock += 100; // parsed 1 Mi units in 100 ms: about 10 units per ms
  writes[0].done();
  frame();
  // 8 ms at 10,486 units/ms: 83,886 units, in whole 16 Ki pieces (at least
  // one): 5 pieces.
  assert.deepEqual(writes.slice(1).map((w) => w.data.length), [5 * 16 * 1024]);
  assert.equal(frames.length, 1, "the next frame goes on");
});

Deno.test("TerminalBuffer hands a skip marker to xterm together with the text after it", () => {
  const writes: string[] = [];
  let frames: (() => void)[] = [];
  const done: (() => void)[] = [];
  const buffer = new TerminalBuffer({
    write: (data, cb) => {
      writes.push(data);
      done.push(cb!);
    },
  }, {
    immediateWhenIdle: false,
    maxPendingBytes: 4,
    maxPendingWrites: 1,
    skipAfterBytes: 10,
    keepBytes: 6,
    requestFrame: (cb) => frames.push(cb),
    skipMarker: (bytes) => `<${bytes}>`,
  });
  const frame = () => {
    const run = frames;
    frames = [];
    run.forEach((cb) => cb());
  };
  buffer.write("x");
  frame();
  buffer.write("aaaa\n", "c1");
  buffer.write("bbbb\n", "c1");
  buffer.write("cccc\n", "c1"); // over 10: "aaaa\n" and "bbbb\n" skipped
  done.shift()!();
  frame();
  // The marker (4 units) and "cccc\n" together, over maxPendingBytes (4).
  assert.deepEqual(writes, ["x", "<10>cccc\n"]);
});
