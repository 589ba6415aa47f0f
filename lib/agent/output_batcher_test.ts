import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { fromAgent, LIMITS } from "../protocol.ts";
import {
  BATCHING,
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

Deno.test("OutputBatcher (immediateWhenIdle false) flushes 4 ms after the first pending byte", () => {
  const { clock, chunks, batcher } = setup();
  try {
    assert.equal(BATCHING.maxDelayMs, 4);
    batcher.push("stdout", encode("a"));
    clock.tick(2);
    batcher.push("stdout", encode("b"));
    clock.tick(1);
    assert.equal(chunks.length, 0);
    clock.tick(1);
    assert.deepEqual(chunks, [{ seq: 1, stream: "stdout", data: "ab" }]);
    clock.tick(100);
    assert.equal(chunks.length, 1);
  } finally {
    clock.uninstall();
  }
});

for (const stream of ["stdout", "stderr", "pty"] as const) {
  Deno.test(`OutputBatcher sends ${stream} output after a quiet moment at once, and batches what follows for at most 4 ms`, () => {
    const { clock, chunks, batcher } = setup(true);
    try {
      clock.tick(1000);
      batcher.push(stream, encode("a"));
      assert.deepEqual(chunks, [{ seq: 1, stream, data: "a" }]);
      // Within 4 ms of that chunk: batched, sent 4 ms after its first byte.
      clock.tick(1);
      batcher.push(stream, encode("b"));
      clock.tick(2);
      batcher.push(stream, encode("c"));
      assert.equal(chunks.length, 1);
      clock.tick(1);
      assert.equal(chunks.length, 1);
      clock.tick(1);
      assert.deepEqual(chunks.at(-1), { seq: 2, stream, data: "bc" });
      // 3 ms after that chunk: still batched.
      clock.tick(3);
      batcher.push(stream, encode("d"));
      assert.equal(chunks.length, 2);
      clock.tick(3);
      assert.equal(chunks.length, 2);
      clock.tick(1);
      assert.deepEqual(chunks.at(-1), { seq: 3, stream, data: "d" });
      // 4 ms after the last chunk: idle again, at once.
      clock.tick(4);
      batcher.push(stream, encode("e"));
      assert.deepEqual(chunks.at(-1), { seq: 4, stream, data: "e" });
      clock.tick(100);
      assert.equal(chunks.length, 4);
    } finally {
      clock.uninstall();
    }
  });
}

Deno.test("OutputBatcher grows frames from 16 KiB to 128 KiB under sustained output, and starts at 16 KiB again after a quiet moment", () => {
  const { clock, chunks, batcher } = setup(true);
  const KIB = 1024;
  try {
    assert.equal(BATCHING.minFrameBytes, 16 * KIB);
    assert.equal(BATCHING.maxFrameBytes, 128 * KIB);
    clock.tick(1000);
    // Reads of 8 KiB, back to back (no time passes): the first goes at once,
    // then each frame ends at the limit, which doubles up to 128 KiB.
    const read = encode("x".repeat(8 * KIB));
    for (let i = 0; i < 200; i++) batcher.push("stdout", read);
    const sizes = chunks.map((c) => c.data.length / KIB);
    assert.deepEqual(sizes.slice(0, 5), [8, 16, 32, 64, 128]);
    assert.ok(sizes.slice(4).every((size) => size === 128), `${sizes}`);
    assert.equal(batcher.frameLimit, 128 * KIB);
    // The rest (under 128 KiB) goes 4 ms after its first byte.
    const sent = sizes.reduce((a, b) => a + b, 0);
    clock.tick(4);
    assert.equal(chunks.length, sizes.length + 1);
    assert.equal(chunks.at(-1)!.data.length / KIB, 200 * 8 - sent);
    assert.deepEqual(
      chunks.map((c) => c.seq),
      chunks.map((_, i) => i + 1),
    );
    // Quiet: at once again, and back to 16 KiB.
    clock.tick(4);
    batcher.push("stdout", read);
    assert.equal(chunks.at(-1)!.data.length, 8 * KIB);
    batcher.push("stdout", read);
    batcher.push("stdout", read);
    assert.equal(chunks.at(-1)!.data.length, 16 * KIB);
    assert.equal(batcher.frameLimit, 32 * KIB);
  } finally {
    clock.uninstall();
  }
});

Deno.test("OutputBatcher never emits a chunk over the largest frame, and cuts non-ASCII text between characters", () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const chunks: OutputChunk[] = [];
  const batcher = new OutputBatcher({
    onChunk: (c) => chunks.push(c),
    minFrameBytes: 8,
    maxFrameBytes: 10,
    now: () => clock.now,
  });
  try {
    clock.tick(1000);
    batcher.pushText("pty", "0123456789abcdefghijklmnopqrstuvwxyz");
    batcher.pushText("pty", "😀é€😀😀€é");
    batcher.flush();
    const data = chunks.map((c) => c.data);
    assert.equal(
      data.join(""),
      "0123456789abcdefghijklmnopqrstuvwxyz😀é€😀😀€é",
    );
    for (const piece of data) {
      assert.ok(new TextEncoder().encode(piece).length <= 10, piece);
      assert.ok(!piece.includes("\ufffd"), piece);
    }
    assert.deepEqual(data.slice(0, 3), [
      "0123456789",
      "abcdefghij",
      "klmnopqrst",
    ]);
    assert.throws(
      () =>
        new OutputBatcher({ onChunk: () => {}, maxFrameBytes: 1024 * 1024 }),
      RangeError,
    );
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
    clock.tick(4);
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

Deno.test("The largest default chunk fits a frame however its text escapes in JSON", () => {
  // Control characters are the worst case: 6 bytes each (\u0001).
  const data = "\x01".repeat(BATCHING.maxFrameBytes);
  const frame = JSON.stringify(fromAgent("terminal:output", {
    commandId: "c".repeat(128),
    seq: Number.MAX_SAFE_INTEGER,
    stream: "stderr",
    data,
  }));
  assert.ok(frame.length <= LIMITS.maxFrameBytes, `${frame.length} bytes`);
});

Deno.test("OutputBatcher hands each chunk over with its UTF-8 bytes (split frames of multi-byte text included)", () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const chunks: { data: string; bytes: number }[] = [];
    const batcher = new OutputBatcher({
      minFrameBytes: 100,
      maxFrameBytes: 1000,
      onChunk: (c, bytes) => chunks.push({ data: c.data, bytes }),
      now: () => clock.now,
    });
    batcher.push("stdout", encode("é€😀 x\n".repeat(500)));
    batcher.push("stdout", encode("plain\n".repeat(300)));
    batcher.flush();
    assert.ok(chunks.length > 4);
    for (const { data, bytes } of chunks) {
      assert.equal(bytes, encode(data).length);
      assert.ok(bytes <= 1000);
    }
    assert.equal(
      chunks.map((c) => c.data).join(""),
      "é€😀 x\n".repeat(500) + "plain\n".repeat(300),
    );
  } finally {
    clock.uninstall();
  }
});
