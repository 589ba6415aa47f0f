import assert from "node:assert/strict";
import { headEnd, readRequestHead } from "./request_head.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (head: Uint8Array | "too-large" | null) => {
  assert.ok(head instanceof Uint8Array, String(head));
  return new TextDecoder().decode(head);
};

/** A reader that hands out `chunks` one per read, then the end. */
function chunks(...parts: string[]) {
  const queue = parts.map(enc);
  let reads = 0;
  const read = (buf: Uint8Array): Promise<number | null> => {
    reads++;
    const next = queue.shift();
    if (!next) return Promise.resolve(null);
    const n = Math.min(next.length, buf.length);
    buf.set(next.subarray(0, n));
    if (n < next.length) queue.unshift(next.subarray(n));
    return Promise.resolve(n);
  };
  return { read, reads: () => reads };
}

Deno.test("headEnd() finds CRLFCRLF and LFLF, and -1 for an incomplete head", () => {
  assert.equal(headEnd(enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), 27);
  assert.equal(headEnd(enc("GET / HTTP/1.1\nHost: x\n\nbody")), 24);
  assert.equal(headEnd(enc("GET / HTTP/1.1\r\nHost: x\r\n")), -1);
  assert.equal(headEnd(enc("")), -1);
});

Deno.test("readRequestHead() returns the head and what followed it, split across reads", async () => {
  const { read } = chunks("GET / HT", "TP/1.1\r\nHost: x\r", "\n\r", "\nBODY");
  const head = await readRequestHead(read, 1024);
  assert.equal(
    text(head),
    "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY",
  );
  const withBody = await readRequestHead(
    chunks("POST / HTTP/1.1\r\n\r\nBODY").read,
    1024,
  );
  assert.equal(
    text(withBody),
    "POST / HTTP/1.1\r\n\r\nBODY",
  );
});

Deno.test("readRequestHead() returns too-large for a head over the cap without reading on", async () => {
  const source = chunks(
    "GET /" + "a".repeat(100),
    "a".repeat(10_000),
    "\r\n\r\n",
  );
  assert.equal(await readRequestHead(source.read, 64), "too-large");
  assert.equal(source.reads(), 1);
});

Deno.test("readRequestHead() accepts a head of exactly the cap", async () => {
  const head = "GET / HTTP/1.1\r\n" + "X: " + "a".repeat(41) + "\r\n\r\n";
  assert.equal(head.length, 64);
  const got = await readRequestHead(chunks(head).read, 64);
  assert.equal(text(got).length, 64);
  assert.equal(
    await readRequestHead(chunks(head + "x").read, 63),
    "too-large",
  );
});

Deno.test("readRequestHead() returns null when the stream ends first", async () => {
  assert.equal(
    await readRequestHead(chunks("GET / HTTP/1.1\r\n").read, 1024),
    null,
  );
});
