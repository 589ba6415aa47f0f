import assert from "node:assert/strict";
import type { AgentInfo } from "../protocol.ts";
import {
  controlErrorText,
  controlView,
  countedTitle,
  inputChunks,
  needsInputCount,
  quickKeys,
} from "./control.ts";

const alice = { userId: "alice", connectionId: "k-1" };

Deno.test("controlView: own, someone else's and free control per role", () => {
  assert.deepEqual(controlView(alice, "k-1", "operator"), {
    state: "mine",
    text: "You have control",
    action: "release",
  });
  assert.deepEqual(controlView(alice, "k-2", "operator"), {
    state: "other",
    text: "alice has control",
    action: null,
  });
  assert.equal(controlView(alice, "k-2", "admin")?.action, "takeover");
  assert.equal(controlView(alice, "k-2", "viewer")?.action, null);
  // Same user in another tab is still someone else's connection.
  assert.equal(controlView(alice, "k-3", "operator")?.state, "other");
  assert.deepEqual(controlView(undefined, "k-1", "operator"), {
    state: "free",
    text: "No one has control",
    action: "take",
  });
  assert.equal(controlView(null, "k-1", "admin")?.action, "take");
  assert.equal(controlView(null, "k-1", "viewer")?.action, null);
  // Without a connection id nothing is "mine".
  assert.equal(controlView(alice, null, "operator")?.state, "other");
});

Deno.test("controlView: no line before the first connection:ack says the role", () => {
  // Which button to offer is unknown: a line now would get it only later.
  assert.equal(controlView(null, null, null), null);
  assert.equal(controlView(undefined, null, null), null);
  assert.equal(controlView(alice, null, null), null);
});

Deno.test("controlErrorText turns codes into short human messages", () => {
  assert.equal(
    controlErrorText("NOT_CONTROLLER", "x"),
    "Someone else has control of this terminal.",
  );
  assert.equal(controlErrorText("AGENT_OFFLINE"), "The agent is offline.");
  assert.equal(
    controlErrorText("NOT_FOUND", "agent a-1 runs no command"),
    "The agent runs no command to type into.",
  );
  assert.equal(
    controlErrorText("NOT_FOUND", "unknown agent"),
    "No such agent.",
  );
  assert.equal(controlErrorText("QUEUE_FULL", "full"), "full");
});

const base: AgentInfo = {
  id: "a",
  name: "a",
  type: "shell",
  status: "busy",
  capabilities: [],
  hostname: "h",
  connectedAt: 1,
  lastSeenAt: 1,
  currentCommandId: null,
};

Deno.test("needsInputCount counts live needs-input agents; countedTitle prefixes it", () => {
  const agents: AgentInfo[] = [
    { ...base, id: "1", activity: "needs-input" },
    { ...base, id: "2", activity: "needs-input" },
    { ...base, id: "3", activity: "needs-input", status: "offline" },
    { ...base, id: "4", activity: "stalled" },
    { ...base, id: "5" },
  ];
  assert.equal(needsInputCount(agents), 2);
  assert.equal(countedTitle("Flightdeck", 2), "(2) Flightdeck");
  assert.equal(countedTitle("(2) Flightdeck", 1), "(1) Flightdeck");
  assert.equal(countedTitle("(1) b · Flightdeck", 0), "b · Flightdeck");
});

Deno.test("quickKeys: the agent's options, then Enter, Esc, Ctrl-C, y, n", () => {
  assert.deepEqual(
    quickKeys({
      ...base,
      activity: "needs-input",
      options: [{ key: "1", label: "Yes" }, { key: "2", label: "No" }],
    }),
    [
      { label: "1. Yes", data: "1" },
      { label: "2. No", data: "2" },
      { label: "Enter", data: "\r" },
      { label: "Esc", data: "\x1b" },
      { label: "Ctrl-C", data: "\x03" },
      { label: "y", data: "y" },
      { label: "n", data: "n" },
    ],
  );
  assert.equal(quickKeys(undefined).length, 5);
});

Deno.test("inputChunks splits long pastes without breaking surrogate pairs", () => {
  assert.deepEqual(inputChunks(""), []);
  assert.deepEqual(inputChunks("abc", 2), ["ab", "c"]);
  assert.deepEqual(inputChunks("a😀b", 2), ["a", "😀", "b"]);
  const long = "x".repeat(40_000);
  const parts = inputChunks(long);
  assert.equal(parts.join(""), long);
  assert.ok(parts.every((p) => p.length <= 16 * 1024));
});
