import assert from "node:assert/strict";
import { Screen } from "./screen.ts";

/** Every buffer row (scrollback and screen) of `screen`, plus cursor. */
function dump(screen: Screen): string {
  return JSON.stringify({
    alt: screen.altScreen,
    visible: screen.visibleLines(),
    cursor: screen.cursor(),
  });
}

Deno.test("Screen.lines() reads colored text as plain text, trimmed right", async () => {
  const screen = new Screen(40, 6);
  await screen.write(
    "\x1b[1;31merror\x1b[0m: \x1b[38;5;208mboom\x1b[0m   \r\n",
  );
  await screen.write("\x1b[48;2;10;20;30mbg\x1b[0m\r\n\r\n$ ");
  assert.deepEqual(screen.lines(10), ["error: boom", "bg", "$"]);
  assert.deepEqual(screen.lines(2), ["bg", "$"]);
  assert.deepEqual(screen.lines(0), []);
  assert.deepEqual(screen.cursorLine(), "$");
  screen.dispose();
});

Deno.test("Screen.lines() shows the last frame of a \\r spinner and cursor moves", async () => {
  const screen = new Screen(40, 5);
  for (const frame of ["⠋", "⠙", "⠹"]) {
    await screen.write(`\r${frame} Working (esc to interrupt)\x1b[K`);
  }
  await screen.write("\r\x1b[2Ktotal 12\r\n");
  // Overwrite the first row by absolute cursor addressing.
  await screen.write("\x1b[1;1Hfirst\x1b[K\x1b[3;1H> ");
  assert.deepEqual(screen.lines(5), ["first", "> "].map((s) => s.trimEnd()));
  assert.deepEqual(screen.cursorLine(), ">");
  assert.deepEqual(screen.cursor(), { x: 2, y: 2 });
  screen.dispose();
});

Deno.test("Screen.lines() reads the alternate screen, then the main one after it", async () => {
  const screen = new Screen(30, 4);
  await screen.write("$ vim\r\n");
  await screen.write("\x1b[?1049h\x1b[H\x1b[2J~\r\n~ editing\r\n-- INSERT --");
  assert.deepEqual(screen.altScreen, true);
  assert.deepEqual(screen.lines(4), ["~", "~ editing", "-- INSERT --"]);
  await screen.write("\x1b[?1049l");
  assert.deepEqual(screen.altScreen, false);
  assert.deepEqual(screen.lines(4), ["$ vim"]);
  screen.dispose();
});

Deno.test("Screen.write() keeps the highest seq", async () => {
  const screen = new Screen(10, 2);
  assert.deepEqual(screen.snapshot().seq, 0);
  await screen.write("a", 5);
  await screen.write(new TextEncoder().encode("b"), 3);
  await screen.write("c");
  assert.deepEqual(screen.snapshot().seq, 5);
  assert.deepEqual(screen.lines(1), ["abc"]);
  screen.dispose();
});

Deno.test("Screen rejects sizes out of range", () => {
  assert.throws(() => new Screen(0, 10), {
    name: "RangeError",
    message: 'Screen cols must be an integer from 1 to 1000, got "0"',
  });
  assert.throws(() => new Screen(80, 10_000), /Screen rows must be/);
  assert.throws(() => new Screen(80, 24, { scrollback: -1 }), /scrollback/);
  const screen = new Screen(80, 24);
  assert.throws(() => screen.resize(10_000, 24), /Screen cols must be/);
  assert.deepEqual([screen.cols, screen.rows], [80, 24]);
  screen.resize(100, 30);
  assert.deepEqual([screen.cols, screen.rows], [100, 30]);
  screen.dispose();
});

Deno.test("Screen.onReply() answers the queries a program sends before drawing", async () => {
  const screen = new Screen(20, 5);
  const replies: string[] = [];
  screen.onReply((data) => replies.push(data));
  await screen.write("ab\x1b[6n\x1b[c\x1b]11;?\x1b\\");
  assert.deepEqual(replies, [
    "\x1b[1;3R",
    "\x1b[?1;2c",
    "\x1b]11;rgb:0000/0000/0000\x1b\\",
  ]);
  screen.dispose();
});

const SCENES: Record<string, string[]> = {
  "colors, cursor moves and redraws": [
    "\x1b[32m~/p\x1b[0m $ ls\r\n\x1b[1;34mdir\x1b[0m  file\r\n",
    "\x1b[33m⠋\x1b[0m working\r\x1b[33m⠙\x1b[0m working\r\x1b[2K",
    "\x1b[7mreverse\x1b[27m \x1b[4munder\x1b[24m \x1b[3mitalic\x1b[23m\r\n",
    "line\r\n".repeat(30),
    "\x1b[5;3Hmid\x1b[10;1H$ ",
  ],
  "alternate screen": [
    "before\r\n",
    "\x1b[?1049h\x1b[H\x1b[2J╭────╮\r\n│ \x1b[1mhi\x1b[0m │\r\n╰────╯\x1b[2;4H",
  ],
  "wide characters and wrapped lines": [
    "界面 ✻ Thinking… " + "x".repeat(70) + "\r\n> ",
  ],
};

for (const [name, chunks] of Object.entries(SCENES)) {
  Deno.test(`Screen.snapshot() of ${name} redraws the same buffer in a fresh terminal`, async () => {
    const screen = new Screen(40, 12, { scrollback: 100 });
    let seq = 0;
    for (const chunk of chunks) await screen.write(chunk, ++seq);
    const snap = screen.snapshot();
    assert.deepEqual([snap.seq, snap.cols, snap.rows], [chunks.length, 40, 12]);
    const fresh = new Screen(snap.cols, snap.rows, { scrollback: 100 });
    await fresh.write(snap.data);
    assert.deepEqual(dump(fresh), dump(screen));
    assert.deepEqual(fresh.allLines(), screen.allLines());
    screen.dispose();
    fresh.dispose();
  });
}

for (
  const name of ["gemini_trust", "gemini_auth", "codex_signin", "claude_start"]
) {
  Deno.test(`Screen.snapshot() of the real ${name} screen redraws the same buffer`, async () => {
    const raw = await Deno.readTextFile(
      new URL(`./testdata/${name}.raw`, import.meta.url),
    );
    const screen = new Screen(100, 30);
    await screen.write(raw, 1);
    const fresh = new Screen(100, 30);
    await fresh.write(screen.snapshot().data);
    assert.deepEqual(dump(fresh), dump(screen));
    assert.deepEqual(fresh.allLines(), screen.allLines());
    screen.dispose();
    fresh.dispose();
  });
}
