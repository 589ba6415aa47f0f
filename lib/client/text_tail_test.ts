import assert from "node:assert/strict";
import {
  MAX_READ_CHARS,
  overwrite,
  stripEscapes,
  tailOf,
  TextTail,
} from "./text_tail.ts";

Deno.test("stripEscapes() removes CSI, OSC and other escapes; cursor forward becomes spaces", () => {
  assert.equal(
    stripEscapes("\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\x1b(B\x1b[2Cx\x07"),
    "red ok  x",
  );
});

Deno.test("overwrite() applies carriage returns and backspaces as a terminal does", () => {
  assert.equal(overwrite("50%\r100%"), "100%");
  assert.equal(overwrite("abcdef\rXY"), "XYcdef");
  assert.equal(overwrite("ab\bc"), "ac");
  assert.equal(overwrite("done\r"), "done");
});

Deno.test("TextTail keeps the last lines, joins lines across chunks and sequences split between chunks", () => {
  const tail = new TextTail(3);
  tail.push("one\ntwo\nthr");
  tail.push("ee\nfo\x1b[3");
  tail.push("2mur\x1b[0m");
  assert.deepEqual(tail.lines(), [
    { text: "two", err: false },
    { text: "three", err: false },
    { text: "four", err: false },
  ]);
  tail.push("\n", false);
  tail.push("oops\n", true);
  assert.deepEqual(tail.lines().map((l) => [l.text, l.err]), [
    ["three", false],
    ["four", false],
    ["oops", true],
  ]);
  tail.clear();
  assert.deepEqual(tail.lines(), []);
});

Deno.test("TextTail reads only the end of a huge chunk and bounds line length", () => {
  const tail = new TextTail(2, 10);
  const lines = Array.from({ length: 50_000 }, (_, i) => `line ${i}`);
  tail.push(lines.join("\n") + "\n");
  assert.deepEqual(tail.lines().map((l) => l.text), [
    "line 49998",
    "line 49999",
  ]);
  tail.push("x".repeat(MAX_READ_CHARS * 3));
  assert.deepEqual(tail.lines().map((l) => l.text), ["xxxxxxxxxx"]);
  assert.deepEqual(tailOf("a\r\nb\r\n"), [
    { text: "a", err: false },
    { text: "b", err: false },
  ]);
});
