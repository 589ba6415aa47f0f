import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  OutputBatcher,
  type OutputChunk,
  splitUtf8,
} from "./output_batcher.ts";

const encode = (text: string) => new TextEncoder().encode(text);

function setup(immediateWhenIdle = false) {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const chunks: OutputChunk[] = [];
  const batcher = new OutputBatcher({
    onChunk: (c) => chunks.push(c),
    immediateWhenIdle,
    now: () => clock.now,
  });
  return { clock, chunks, batcher };
}

Deno.test("OutputBatcher flushes 16 ms after the first pending byte", () => {
  const { clock, chunks, batcher } = setup();
  try {
    batcher.push("stdout", encode("a"));
    clock.tick(10);
    batcher.push("stdout", encode("b"));
    clock.tick(5);
    assert.equal(chunks.length, 0);
    clock.tick(1);
    assert.deepEqual(chunks, [{ seq: 1, stream: "stdout", data: "ab" }]);
    clock.tick(100);
    assert.equal(chunks.length, 1);
  } finally {
    clock.uninstall();
  }
});

Deno.test("OutputBatcher sends pty output after a quiet moment at once, and batches what follows", () => {
  const { clock, chunks, batcher } = setup(true);
  try {
    clock.tick(1000);
    batcher.push("pty", encode("a"));
    assert.deepEqual(chunks, [{ seq: 1, stream: "pty", data: "a" }]);
    // Within 16 ms of that chunk: batched, sent 16 ms after its first byte.
    clock.tick(5);
    batcher.push("pty", encode("b"));
    clock.tick(3);
    batcher.push("pty", encode("c"));
    assert.equal(chunks.length, 1);
    clock.tick(12);
    assert.equal(chunks.length, 1);
    clock.tick(1);
    assert.deepEqual(chunks.at(-1), { seq: 2, stream: "pty", data: "bc" });
    // 15 ms after that chunk: still batched.
    clock.tick(15);
    batcher.push("pty", encode("d"));
    assert.equal(chunks.length, 2);
    clock.tick(1);
    assert.equal(chunks.length, 2);
    assert.deepEqual(chunks.at(-1), { seq: 2, stream: "pty", data: "bc" });
    clock.tick(15);
    assert.deepEqual(chunks.at(-1), { seq: 3, stream: "pty", data: "d" });
    // 16 ms after the last chunk: idle again, at once.
    clock.tick(16);
    batcher.push("pty", encode("e"));
    assert.deepEqual(chunks.at(-1), { seq: 4, stream: "pty", data: "e" });
    clock.tick(100);
    assert.equal(chunks.length, 4);
    // Pipe output always waits the 16 ms.
    batcher.push("stdout", encode("f"));
    clock.tick(15);
    assert.equal(chunks.length, 4);
    clock.tick(1);
    assert.deepEqual(chunks.at(-1), { seq: 5, stream: "stdout", data: "f" });
  } finally {
    clock.uninstall();
  }
});

Deno.test("OutputBatcher flushes as soon as 16 KiB are pending", () => {
  const { clock, chunks, batcher } = setup();
  try {
    batcher.push("stdout", encode("x".repeat(16 * 1024 - 1)));
    assert.equal(chunks.length, 0);
    batcher.push("stdout", encode("yz"));
    assert.deepEqual(chunks.map((c) => [c.seq, c.data.length]), [
      [1, 16 * 1024],
      [2, 1],
    ]);
    assert.equal(chunks[1].data, "z");
    clock.tick(100);
    assert.equal(chunks.length, 2);
  } finally {
    clock.uninstall();
  }
});

Deno.test("OutputBatcher keeps a multi-byte character split across reads whole", () => {
  const { clock, chunks, batcher } = setup();
  try {
    const bytes = encode("é€😀");
    batcher.push("stdout", bytes.subarray(0, 1));
    clock.tick(20);
    assert.equal(chunks.length, 0);
    batcher.push("stdout", bytes.subarray(1, 4));
    batcher.push("stdout", bytes.subarray(4, 7));
    clock.tick(20);
    batcher.push("stdout", bytes.subarray(7));
    batcher.end("stdout");
    batcher.flush();
    assert.deepEqual(chunks, [
      { seq: 1, stream: "stdout", data: "é€" },
      { seq: 2, stream: "stdout", data: "😀" },
    ]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("OutputBatcher numbers seq contiguously across streams in order", () => {
  const { clock, chunks, batcher } = setup();
  try {
    batcher.push("stdout", encode("out1 "));
    batcher.push("stderr", encode("err1 "));
    batcher.push("stderr", encode("err2 "));
    batcher.push("stdout", encode("out2"));
    clock.tick(16);
    assert.deepEqual(chunks, [
      { seq: 1, stream: "stdout", data: "out1 " },
      { seq: 2, stream: "stderr", data: "err1 err2 " },
      { seq: 3, stream: "stdout", data: "out2" },
    ]);
    assert.equal(batcher.lastSeq, 3);
  } finally {
    clock.uninstall();
  }
});

Deno.test("OutputBatcher.end() turns a truncated character into U+FFFD", () => {
  const { clock, chunks, batcher } = setup();
  try {
    batcher.push("stderr", encode("€").subarray(0, 2));
    batcher.end("stderr");
    batcher.flush();
    assert.deepEqual(chunks, [{ seq: 1, stream: "stderr", data: "\ufffd" }]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("splitUtf8() cuts only between characters", () => {
  assert.deepEqual(splitUtf8("aé€", 4), ["aé", "€"]);
  assert.deepEqual(splitUtf8("😀😀", 5), ["😀", "😀"]);
  assert.deepEqual(splitUtf8("abc", 4), ["abc"]);
});
