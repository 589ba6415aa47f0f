/**
 * Text of the page's headers and footers (top bar, panel titles, table
 * headings, fleet cards' status and result lines) and of the terminal's
 * command headers and footers has a contrast of at least 4.5:1 (WCAG AA),
 * computed from the colors in static/*.css and the terminal theme.
 */
import assert from "node:assert/strict";
import { contrastRatio, parseHex } from "../lib/client/contrast.ts";
import {
  commandFooter,
  commandHeader,
  TERMINAL_THEME,
} from "../lib/client/terminal_view.ts";
import type { CommandInfo } from "../lib/protocol.ts";
import { ROOT } from "./helpers.ts";

const CSS = await Deno.readTextFile(`${ROOT}static/styles.css`);

/** The custom properties of the first `:root {…}` block (the dark theme pages use). */
function rootColors(css: string): Map<string, string> {
  const block = /:root\s*\{([^}]*)\}/.exec(css)?.[1] ?? "";
  const vars = new Map<string, string>();
  for (const m of block.matchAll(/--([\w-]+):\s*(#[0-9a-fA-F]{3,6})\s*;/g)) {
    vars.set(m[1], m[2]);
  }
  return vars;
}

const VARS = rootColors(CSS);
const color = (name: string) => {
  const value = VARS.get(name);
  assert.ok(value, `--${name} is defined in static/styles.css`);
  return value;
};

Deno.test("contrastRatio() matches known WCAG values", () => {
  assert.equal(contrastRatio("#000000", "#ffffff").toFixed(2), "21.00");
  assert.equal(contrastRatio("#777777", "#ffffff").toFixed(2), "4.48");
  assert.deepEqual(parseHex("#0d1117"), [13, 17, 23]);
  assert.throws(() => parseHex("red"), RangeError);
});

Deno.test("Headers and footers of the page have a contrast of at least 4.5:1", () => {
  // [what, text color, background]
  const pairs: [string, string, string][] = [
    ["top bar text", "fg", "bg-2"],
    ["top bar brand", "fg-strong", "bg-2"],
    ["top bar page title", "muted", "bg-2"],
    ["top bar links", "accent", "bg-2"],
    ["role badge (admin)", "orange", "bg-2"],
    ["panel titles and table headings", "muted", "bg-2"],
    ["fleet card meta and durations", "muted", "bg"],
    ["fleet card result: succeeded", "green", "bg"],
    ["fleet card result: failed", "red", "bg"],
    ["fleet card result: interrupted", "orange", "bg"],
    ["fleet card: needs input", "attention", "bg"],
    ["fleet card: busy badge", "yellow", "bg"],
    ["fleet card: last lines", "fg", "bg-2"],
    ["fleet card: stderr lines", "red", "bg-2"],
    ["agent list meta", "muted", "bg-2"],
  ];
  const low = pairs.map(([what, fg, bg]) => ({
    what,
    ratio: contrastRatio(color(fg), color(bg)),
  })).filter((p) => p.ratio < 4.5);
  assert.deepEqual(low, [], "every pair is at least 4.5:1");
});

Deno.test("The terminal's command headers and footers have a contrast of at least 4.5:1", () => {
  const base: CommandInfo = {
    id: "c1",
    agentId: "a1",
    command: "make",
    priority: "normal",
    status: "completed",
    requestedBy: "u",
    requestedAt: 1,
    startedAt: 1,
    completedAt: 2,
    exitCode: 0,
    outputBytes: 0,
  };
  const bg = TERMINAL_THEME.background;
  const palette: Record<string, string> = {
    "31": TERMINAL_THEME.red,
    "32": TERMINAL_THEME.green,
    "33": TERMINAL_THEME.yellow,
  };
  /** The foreground a line's escapes set; dim (SGR 2) is refused outright. */
  const fgOf = (line: string): string => {
    let fg: string = TERMINAL_THEME.foreground;
    // deno-lint-ignore no-control-regex -- SGR sequences start with ESC
    for (const m of line.matchAll(/\x1b\[([0-9;]*)m/g)) {
      const params = m[1].split(";");
      for (let i = 0; i < params.length; i++) {
        const p = params[i];
        if (p === "38" && params[i + 1] === "2") {
          fg = "#" + params.slice(i + 2, i + 5)
            .map((v) => Number(v).toString(16).padStart(2, "0")).join("");
          i += 4;
        } else if (p === "2") {
          assert.fail(`dim text in ${JSON.stringify(line)}`);
        } else if (palette[p]) {
          fg = palette[p];
        }
      }
    }
    return fg;
  };
  const lines = [
    commandHeader(base, "c1"),
    commandFooter(base),
    commandFooter({ ...base, status: "failed", exitCode: 3 }),
    commandFooter({ ...base, status: "interrupted", exitCode: null }),
  ];
  for (const line of lines) {
    const ratio = contrastRatio(fgOf(line), bg);
    assert.ok(ratio >= 4.5, `${JSON.stringify(line)}: ${ratio.toFixed(2)}:1`);
  }
});
