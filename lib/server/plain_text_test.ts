import assert from "node:assert/strict";
import { MAX_LINE_CHARS, PlainText, plainText } from "./plain_text.ts";

Deno.test("plainText() removes SGR colors and keeps newlines and tabs", () => {
  assert.equal(
    plainText("\x1b[1;31mred\x1b[0m\tplain\n\x1b[38;5;208mx\x1b[m\n"),
    "red\tplain\nx\n",
  );
});

Deno.test("plainText() removes OSC strings ended by BEL, ESC \\ or C1 ST", () => {
  assert.equal(
    plainText(
      "a\x1b]0;title\x07b\x1b]8;;https://x.test/\x1b\\link\x1b]8;;\x1b\\c\x9d2;t\x9cd",
    ),
    "ablinkcd",
  );
});

Deno.test("plainText() removes charset selections, keypad modes, DCS/APC strings and C1 CSI", () => {
  assert.equal(
    plainText(
      "\x1b(B\x1b)0\x1b#8\x1b=\x1b>\x1b7a\x1b8\x1bP1$r0m\x1b\\b\x1b_apc\x1b\\\x9b31mc\x1b%G",
    ),
    "abc",
  );
});

Deno.test("plainText() drops other controls, DEL and cursor moves", () => {
  assert.equal(
    plainText("\x07a\x00b\x7fc\x1b[2J\x1b[H\x1b[10;5Hd\x1b[?25l\x1b[?1049he"),
    "abcde",
  );
});

Deno.test("plainText() applies carriage-return overwrites: a progress line collapses to its last text", () => {
  assert.equal(plainText("10%\r50%\r100%\n"), "100%\n");
  assert.equal(plainText("abcdef\rXY\n"), "XYcdef\n");
  assert.equal(plainText("line\r\nnext\r\n"), "line\nnext\n");
  assert.equal(plainText("ab\bc\n"), "ac\n");
  assert.equal(plainText("\b\bx"), "x");
});

Deno.test("plainText() applies erase in line: to the end, to the cursor, the whole line", () => {
  assert.equal(plainText("downloading 10%\r\x1b[Kdone\n"), "done\n");
  assert.equal(plainText("abcdef\r\x1b[2K\n"), "\n");
  assert.equal(plainText("abcdef\rabc\x1b[0K\n"), "abc\n");
  assert.equal(plainText("abcdef\rab\x1b[1K\n"), "   def\n");
  assert.equal(plainText("abcd\x1b[2Kx\n"), "    x\n");
});

Deno.test("PlainText.push() handles sequences and lines split across chunks", () => {
  const input = "\x1b[32mgreen\x1b[0m\r\n50%\r100%\r\n\x1b]0;t\x07done\x1b(B\n";
  const expected = "green\n100%\ndone\n";
  for (let cut = 0; cut <= input.length; cut++) {
    for (const cut2 of [cut, Math.min(input.length, cut + 3)]) {
      const text = new PlainText();
      const out = text.push(input.slice(0, cut)) +
        text.push(input.slice(cut, cut2)) + text.push(input.slice(cut2)) +
        text.end();
      assert.equal(out, expected, `cut at ${cut}, ${cut2}`);
    }
  }
});

Deno.test("PlainText.push() returns only completed lines; end() returns the rest", () => {
  const text = new PlainText();
  assert.equal(text.push("one\ntw"), "one\n");
  assert.equal(text.push("o"), "");
  assert.equal(text.end(), "two");
});

Deno.test("PlainText keeps non-ASCII text and counts code points as columns", () => {
  assert.equal(plainText("é€😀x\r😀\n"), "😀€😀x\n");
});

Deno.test("PlainText writes out a line longer than MAX_LINE_CHARS and keeps going", () => {
  const text = new PlainText();
  const long = "a".repeat(MAX_LINE_CHARS);
  assert.equal(text.push(long), "");
  assert.equal(text.push("b"), long);
  assert.equal(text.push("\rc\n"), "c\n");
});

Deno.test("plainText() cancels a sequence with CAN or SUB and runs controls inside one", () => {
  assert.equal(plainText("a\x1b[3\x18b\x1b]0;x\x1ac"), "abc");
  assert.equal(plainText("a\x1b[\n31mb"), "a\nb");
});

Deno.test("PlainText gives the same text however the output is split into chunks", () => {
  const pieces = [
    "abc",
    "é😀",
    "\r",
    "\n",
    "\r\n",
    "\b",
    "\x1b[31m",
    "\x1b[K",
    "\x1b[2K",
    "\x1b]0;t\x07",
    "\x1b(B",
    "\t",
    "xyz ",
  ];
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    let input = "";
    for (let i = 0; i < 30; i++) input += pieces[random(pieces.length)];
    const whole = plainText(input);
    const text = new PlainText();
    let split = "";
    for (let at = 0; at < input.length;) {
      let next = Math.min(input.length, at + 1 + random(6));
      // Never between the halves of a surrogate pair.
      if (/[\ud800-\udbff]/.test(input[next - 1] ?? "")) next++;
      split += text.push(input.slice(at, next));
      at = next;
    }
    assert.equal(split + text.end(), whole, JSON.stringify(input));
  }
});
