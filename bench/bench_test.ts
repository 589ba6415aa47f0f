import assert from "node:assert/strict";
import {
  figureLine,
  formatSpread,
  parseFigures,
  percentile,
  ratios,
  round,
  spread,
} from "./stats.ts";
import { StreamError, StreamVerifier } from "./verify.ts";

const UNIT = "0".repeat(9) + "\n";

/** `n` bytes of UNIT repeated, from byte `from`. */
const stream = (from: number, n: number) =>
  UNIT.repeat(Math.ceil((from + n) / UNIT.length) + 1).slice(from, from + n);

Deno.test("percentile() takes the nearest rank", () => {
  const values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
  assert.equal(percentile(values, 50), 5);
  assert.equal(percentile(values, 99), 10);
  assert.equal(percentile(values, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
});

Deno.test("spread() gives median, min and max; ratios() pair batches", () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(spread([4, 1, 2, 3]), {
    median: 2.5,
    min: 1,
    max: 4,
    n: 4,
  });
  assert.throws(() => spread([]), RangeError);
  assert.deepEqual(ratios([10, 30], [20, 30]), [0.5, 1]);
  assert.throws(() => ratios([1], [1, 2]), RangeError);
});

Deno.test("figureLine() prints FIGURE name=value, parseFigures() reads it back", () => {
  assert.equal(
    figureLine("throughput_1_mbps", 150.234),
    "FIGURE throughput_1_mbps=150",
  );
  assert.equal(
    figureLine("line_latency_p50_ms", 1.23456),
    "FIGURE line_latency_p50_ms=1.23",
  );
  assert.equal(
    figureLine("agent_buffer_drops", 0),
    "FIGURE agent_buffer_drops=0",
  );
  assert.equal(figureLine("ratio", 0.04567), "FIGURE ratio=0.046");
  assert.throws(() => figureLine("Bad Name", 1), RangeError);
  assert.throws(() => figureLine("x", "a b"), RangeError);
  const text = [
    "noise",
    figureLine("a_b", 2),
    "FIGURE not a figure: 3",
    figureLine("a_b", 3),
    figureLine("c", 0.5),
  ].join("\n");
  assert.deepEqual(
    [...parseFigures(text)],
    [["a_b", "3"], ["c", "0.500"]],
  );
  assert.equal(round(1234.5), "1235");
  assert.equal(round(7), "7");
  assert.equal(formatSpread(spread([1, 2, 3.5]), "ms"), "2 ms (1–3.50)");
  assert.equal(formatSpread(spread([2.25]), "ms"), "2.25 ms");
});

Deno.test("StreamVerifier accepts a whole stream in any chunking", () => {
  const v = new StreamVerifier(UNIT, 35);
  v.chunk(1, stream(0, 3));
  assert.equal(v.complete, false);
  v.chunk(2, stream(3, 17));
  v.chunk(3, stream(20, 15));
  assert.equal(v.complete, true);
  assert.equal(v.bytes, 35);
  assert.equal(v.chunks, 3);
});

Deno.test("StreamVerifier fails on a lost chunk", () => {
  const v = new StreamVerifier(UNIT, 30);
  v.chunk(1, stream(0, 10));
  assert.throws(
    () => v.chunk(3, stream(20, 10)),
    new StreamError("Lost chunk: seq 2 missing, got 3"),
  );
  // A lost chunk with the seq numbering intact still shows in the data.
  const w = new StreamVerifier(UNIT, 30);
  w.chunk(1, stream(0, 10));
  assert.throws(() => w.chunk(2, stream(15, 10)), StreamError);
});

Deno.test("StreamVerifier fails on a duplicated or reordered chunk", () => {
  const v = new StreamVerifier(UNIT, 30);
  v.chunk(1, stream(0, 10));
  v.chunk(2, stream(10, 10));
  assert.throws(
    () => v.chunk(2, stream(10, 10)),
    new StreamError("Duplicate or reordered chunk: seq 2 after 2"),
  );
  assert.throws(() => v.chunk(1, stream(0, 10)), StreamError);
});

Deno.test("StreamVerifier fails on corrupt data and on too many bytes", () => {
  const v = new StreamVerifier(UNIT, 20);
  assert.throws(() => v.chunk(1, "0".repeat(10)), StreamError);
  const w = new StreamVerifier(UNIT, 20);
  w.chunk(1, stream(0, 15));
  assert.throws(() => w.chunk(2, stream(15, 10)), StreamError);
  assert.equal(w.complete, false);
  // Longer than its 1 MiB comparison window.
  const big = new StreamVerifier(UNIT, 3 << 20);
  big.chunk(1, stream(0, 3 << 20));
  assert.equal(big.complete, true);
  assert.throws(() => new StreamVerifier("", 1), RangeError);
  assert.throws(() => new StreamVerifier("é", 1), RangeError);
});
