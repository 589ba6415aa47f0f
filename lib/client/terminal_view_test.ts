import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import {
  commandHeader,
  formatBytes,
  fullLogUrl,
  historyText,
  planResync,
  skipMarker,
  visibleControls,
} from "./terminal_view.ts";

const base: CommandInfo = {
  id: "c1",
  agentId: "a",
  command: "ls",
  priority: "normal",
  status: "running",
  requestedBy: "u",
  requestedAt: 0,
  startedAt: 0,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
};

Deno.test("commandHeader() shows control characters instead of executing them", () => {
  const typed =
    "echo hi\x1b[2J\x1b]0;owned\x07\r\n[completed (exit 0)]\x9b31m\x7f\tx";
  const header = commandHeader({ ...base, command: typed }, "c1");
  assert.equal(
    header,
    "\x1b[1m\x1b[38;2;139;148;158m$ echo hi^[[2J^[]0;owned^G⏎[completed (exit 0)]M-^[31m^?^Ix\x1b[0m\r\n",
  );
  // Only the header's own styling and line end remain as controls.
  const body = header.slice(
    "\x1b[1m\x1b[38;2;139;148;158m".length,
    -"\x1b[0m\r\n".length,
  );
  // deno-lint-ignore no-control-regex -- looking for control characters
  assert.doesNotMatch(body, /[\x00-\x1f\x7f-\x9f]/);
  assert.equal(visibleControls("a\nb\rc"), "a⏎b^Mc");
  assert.equal(visibleControls("plain é€ ✓"), "plain é€ ✓");
});

Deno.test("planResync() redraws when the commands in view changed, else fetches uncached ones", () => {
  const cached = new Set(["c1"]);
  const has = (id: string) => cached.has(id);
  // c2 started and finished while disconnected: not drawn yet.
  assert.deepEqual(planResync(["c1", "c2"], ["c1"], has), {
    rerender: true,
    fetch: [],
  });
  assert.deepEqual(planResync(["c2", "c1"], ["c1", "c2"], has).rerender, true);
  // Same view, c2 drawn when it started but no output cached: fetch it.
  assert.deepEqual(planResync(["c1", "c2"], new Set(["c1", "c2"]), has), {
    rerender: false,
    fetch: ["c2"],
  });
  assert.deepEqual(planResync([], [], has), { rerender: false, fetch: [] });
});

Deno.test("historyText() leaves out scrollback clears and terminal resets, nothing else", () => {
  assert.equal(
    historyText("old\r\n\x1b[2J\x1b[3J\x1b[Hnew\x1bc\x1b[31mred\x1b[0m"),
    "old\r\n\x1b[2J\x1b[Hnew\x1b[31mred\x1b[0m",
  );
  assert.equal(historyText("plain"), "plain");
});

Deno.test("formatBytes() uses decimal units with one decimal", () => {
  assert.deepEqual(
    [0, 999, 1000, 4_149, 83_200_000, 999_949, 999_950, 1_234_000_000].map(
      formatBytes,
    ),
    [
      "0 B",
      "999 B",
      "1.0 kB",
      "4.1 kB",
      "83.2 MB",
      "999.9 kB",
      "1.0 MB",
      "1.2 GB",
    ],
  );
});

Deno.test("skipMarker() is a dim line of its own naming the bytes; fullLogUrl() is the log page", () => {
  assert.equal(
    skipMarker(83_200_000, true),
    "\x1b[0m\x1b[38;2;139;148;158m[… 83.2 MB not shown, full log above]\x1b[0m\r\n",
  );
  assert.equal(
    skipMarker(512, false),
    "\r\n\x1b[0m\x1b[38;2;139;148;158m[… 512 B not shown, full log above]\x1b[0m\r\n",
  );
  assert.equal(fullLogUrl("c 1"), "/commands/c%201");
});
