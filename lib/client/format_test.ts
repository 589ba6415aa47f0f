import assert from "node:assert/strict";
import {
  commandSummary,
  endedByText,
  exitText,
  formatClock,
  formatDuration,
  ordinal,
  shortCommand,
  statusLabel,
} from "./format.ts";
import {
  commandFooter,
  commandHeader,
  viewCommandIds,
} from "./terminal_view.ts";
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

const FINISHED: CommandInfo = {
  id: "c-1",
  agentId: "a-1",
  command: "sleep 30",
  priority: "normal",
  status: "interrupted",
  requestedBy: "bob",
  requestedAt: Date.UTC(2024, 0, 1, 10, 0, 0),
  startedAt: Date.UTC(2024, 0, 1, 10, 0, 1),
  completedAt: Date.UTC(2024, 0, 1, 10, 0, 5),
  exitCode: null,
  outputBytes: 0,
  endedBy: { actor: "alice", role: "operator", reason: "not today" },
  exitSignal: "SIGINT",
};

Deno.test("ordinal() reads 1st, 2nd, 3rd, 4th, 11th-13th, 21st, 112th", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112].map(ordinal),
    [
      "1st",
      "2nd",
      "3rd",
      "4th",
      "11th",
      "12th",
      "13th",
      "21st",
      "22nd",
      "23rd",
      "101st",
      "111th",
      "112th",
    ],
  );
});

Deno.test("statusLabel(), endedByText() and exitText() say how a command ended", () => {
  assert.equal(statusLabel("timeout"), "timed out");
  assert.equal(statusLabel("cancelled"), "cancelled");
  assert.equal(endedByText(FINISHED), "alice: not today");
  assert.equal(
    endedByText({
      ...FINISHED,
      endedBy: { actor: "ada", role: "admin", reason: null },
    }),
    "ada",
  );
  assert.equal(endedByText({ ...FINISHED, endedBy: undefined }), "");
  assert.equal(exitText(FINISHED), "SIGINT");
  assert.equal(
    exitText({ ...FINISHED, exitCode: 143, exitSignal: "SIGTERM" }),
    "exit 143 (SIGTERM)",
  );
  assert.equal(
    exitText({ ...FINISHED, exitCode: 3, exitSignal: undefined }),
    "exit 3",
  );
  assert.equal(exitText({ ...FINISHED, exitSignal: undefined }), "");
});

Deno.test("commandSummary() names the id, requester, times, ender, reason and exit", () => {
  assert.equal(
    commandSummary({ ...FINISHED, timeoutMs: 60_000 }),
    [
      "Command c-1",
      "Requested by bob at 10:00:00 UTC",
      "Started 10:00:01",
      "Ended 10:00:05",
      "Took 4.0 s",
      "Status: interrupted",
      "Ended by alice (operator)",
      "Reason: not today",
      "Exit: SIGINT",
      "Timeout: 1 m 00 s",
    ].join("\n"),
  );
});

Deno.test("commandFooter() says how it ended, by whom, with its exit or signal", () => {
  assert.equal(
    commandFooter(FINISHED),
    "\x1b[33m[interrupted by alice (SIGINT)]\x1b[0m\r\n",
  );
  assert.equal(
    commandFooter({
      ...FINISHED,
      status: "timeout",
      endedBy: { actor: "server", role: "system", reason: "timed out" },
    }),
    "\x1b[33m[timed out by server (SIGINT)]\x1b[0m\r\n",
  );
  assert.equal(
    commandFooter({
      ...FINISHED,
      status: "completed",
      exitCode: 0,
      exitSignal: undefined,
      endedBy: undefined,
    }),
    "\x1b[32m[completed (exit 0)]\x1b[0m\r\n",
  );
  // A user name cannot smuggle escape sequences into the terminal.
  assert.equal(
    commandFooter({
      ...FINISHED,
      endedBy: { actor: "x\x1b[2J", role: "operator", reason: null },
    }),
    "\x1b[33m[interrupted by x^[[2J (SIGINT)]\x1b[0m\r\n",
  );
});
