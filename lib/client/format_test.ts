import assert from "node:assert/strict";
import { formatClock, formatDuration, shortCommand } from "./format.ts";
import { commandHeader, viewCommandIds } from "./terminal_view.ts";
import type { CommandInfo } from "../protocol.ts";

Deno.test("formatDuration() picks a readable unit", () => {
  assert.deepEqual(
    [850, 4200, 187_000, 7_500_000].map(formatDuration),
    ["850 ms", "4.2 s", "3 m 07 s", "2 h 05 m"],
  );
  assert.throws(() => formatDuration(-1), RangeError);
});

Deno.test("formatClock() and shortCommand()", () => {
  assert.equal(formatClock(Date.UTC(2024, 0, 1, 13, 4, 5)), "13:04:05");
  assert.equal(shortCommand("ls -la\necho"), "ls -la …");
  assert.equal(shortCommand("abcdef", 4), "abc…");
});

Deno.test("viewCommandIds() lists the agent's started commands in order", () => {
  const base: CommandInfo = {
    id: "",
    agentId: "a",
    command: "x",
    priority: "normal",
    status: "completed",
    requestedBy: "u",
    requestedAt: 0,
    startedAt: 0,
    completedAt: null,
    exitCode: 0,
    outputBytes: 0,
  };
  const list = [
    { ...base, id: "c3", startedAt: 30 },
    { ...base, id: "c1", startedAt: 10 },
    { ...base, id: "q", status: "queued" as const, startedAt: null },
    { ...base, id: "other", agentId: "b" },
    { ...base, id: "c2", startedAt: 20, status: "running" as const },
  ];
  assert.deepEqual(viewCommandIds(list, "a", null), ["c1", "c2", "c3"]);
  assert.deepEqual(viewCommandIds(list, "a", null, 2), ["c2", "c3"]);
  assert.deepEqual(viewCommandIds(list, "a", "q"), ["q"]);
  assert.deepEqual(viewCommandIds(list, null, null), []);
  assert.equal(
    commandHeader(undefined, "c9"),
    "\x1b[1m\x1b[38;2;139;148;158m$ c9\x1b[0m\r\n",
  );
});
