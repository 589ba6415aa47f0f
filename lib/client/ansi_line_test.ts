import assert from "node:assert/strict";
import {
  defaultSgr,
  findRanges,
  markRanges,
  renderAnsiLine,
  segmentsText,
} from "./ansi_line.ts";

Deno.test("renderAnsiLine() keeps basic colors as classes and resets", () => {
  assert.deepEqual(renderAnsiLine("\x1b[31merr\x1b[0m ok", defaultSgr()), [
    { text: "err", cls: "fg-1", style: "" },
    { text: " ok", cls: "", style: "" },
  ]);
});

Deno.test("renderAnsiLine() carries the style to the next line", () => {
  const state = defaultSgr();
  renderAnsiLine("\x1b[1;92mstart", state);
  assert.deepEqual(renderAnsiLine("more", state), [
    { text: "more", cls: "fg-10 b", style: "" },
  ]);
});

Deno.test("renderAnsiLine() gives 256 and true colors as inline styles", () => {
  assert.deepEqual(
    renderAnsiLine("\x1b[38;5;196ma\x1b[48;2;1;2;3mb", defaultSgr()),
    [
      { text: "a", cls: "", style: "color:rgb(255,0,0)" },
      { text: "b", cls: "", style: "color:rgb(255,0,0);background:rgb(1,2,3)" },
    ],
  );
});

Deno.test("renderAnsiLine() applies carriage returns, backspace and erase", () => {
  const text = (s: string) => segmentsText(renderAnsiLine(s, defaultSgr()));
  assert.equal(text(" 50%\r100%\r"), "100%");
  assert.equal(text("abcdef\rXY"), "XYcdef");
  assert.equal(text("abc\bX"), "abX");
  assert.equal(text("abcdef\r\x1b[Kxy"), "xy");
  assert.equal(text("\x1b]0;title\x07a\x1b(Bb\x1b[2Jc\x07"), "abc");
  assert.equal(text("tab\there"), "tab\there");
});

Deno.test("markRanges() splits segments at hit boundaries", () => {
  const segs = renderAnsiLine("\x1b[31mhello\x1b[0m world", defaultSgr());
  const ranges = findRanges("hello world", "LO W");
  assert.deepEqual(ranges, [[3, 7]]);
  assert.deepEqual(
    markRanges(segs, ranges).map((s) => [s.text, s.cls, s.mark]),
    [
      ["hel", "fg-1", false],
      ["lo", "fg-1", true],
      [" w", "", true],
      ["orld", "", false],
    ],
  );
});

Deno.test("findRanges() finds every occurrence, not overlapping", () => {
  assert.deepEqual(findRanges("aaaa", "aa"), [[0, 2], [2, 4]]);
  assert.deepEqual(findRanges("abc", ""), []);
});
