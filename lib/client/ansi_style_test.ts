import assert from "node:assert/strict";
import {
  defaultSgr,
  renderAnsiLine,
  sgrAfter,
  sgrFromParams,
  sgrParams,
} from "./ansi_line.ts";
import { type LinesResponse, lineStartStyles } from "./log_window.ts";

Deno.test("sgrAfter() applies every SGR sequence of a text, and ESC c resets", () => {
  assert.deepEqual(
    sgrParams(sgrAfter("a\x1b[1;31mb\nc", defaultSgr())),
    "1;31",
  );
  assert.equal(sgrParams(sgrAfter("\x1b[1;31mb\x1b[0m", defaultSgr())), "");
  assert.equal(sgrParams(sgrAfter("\x1b[4;32mb\x1bc", defaultSgr())), "");
  assert.equal(
    sgrParams(sgrAfter("\x1b[94;102;3;7m", defaultSgr())),
    "3;7;94;102",
  );
  assert.equal(
    sgrParams(sgrAfter("\x1b[38;5;196;48;2;1;2;3m", defaultSgr())),
    "38;2;255;0;0;48;2;1;2;3",
  );
});

Deno.test("sgrFromParams(sgrParams(s)) gives s back; bad parameters give the default", () => {
  for (
    const text of [
      "",
      "\x1b[1;2;3;4;7m",
      "\x1b[31;44m",
      "\x1b[97;100m",
      "\x1b[38;5;9m",
      "\x1b[38;5;17;48;2;9;8;7m",
    ]
  ) {
    const state = sgrAfter(text, defaultSgr());
    assert.deepEqual(sgrFromParams(sgrParams(state)), state, text);
  }
  assert.deepEqual(sgrFromParams("1;x"), defaultSgr());
  assert.deepEqual(sgrFromParams("1".repeat(65)), defaultSgr());
});

Deno.test("lineStartStyles() carries a block's sgr through its lines in order", () => {
  const block: LinesResponse = {
    id: "c",
    sourceId: "c",
    firstLine: 1,
    lastLine: 3,
    removed: null,
    gaps: [],
    sgr: "31",
    lines: [
      { n: 11, text: "red \x1b[1mbold" },
      { n: 12, text: null },
      { n: 13, text: "\x1b[0mplain" },
      { n: 14, text: "after" },
    ],
  };
  const styles = lineStartStyles(block).map(sgrParams);
  assert.deepEqual(styles, ["31", "1;31", "1;31", ""]);
  assert.equal(lineStartStyles(block), lineStartStyles(block), "computed once");
  assert.deepEqual(
    renderAnsiLine("x", { ...lineStartStyles(block)[1] }),
    [{ text: "x", cls: "fg-1 b", style: "" }],
  );
});
