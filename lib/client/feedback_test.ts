import assert from "node:assert/strict";
import type { CommandInfo } from "../protocol.ts";
import {
  interruptFeedback,
  refusalFeedback,
  requestFeedback,
} from "./feedback.ts";

const QUEUED: CommandInfo = {
  id: "3f2c9a7e-0000-4000-8000-000000000001",
  agentId: "b1",
  command: "make test",
  priority: "normal",
  status: "queued",
  requestedBy: "bob",
  requestedAt: 1,
  startedAt: null,
  completedAt: null,
  exitCode: null,
  outputBytes: 0,
};
const queue = [
  { commandId: "other", priority: "high" as const, position: 0 },
  { commandId: QUEUED.id, priority: "normal" as const, position: 1 },
];

Deno.test("requestFeedback() says where the command stands, by name and place", () => {
  assert.equal(
    requestFeedback(QUEUED, "build-1", queue),
    "Queued 2nd on build-1",
  );
  // Before its queue update arrives: no place yet.
  assert.equal(requestFeedback(QUEUED, "build-1", []), "Queued on build-1");
  assert.equal(
    requestFeedback(QUEUED, "build-1", queue, "Re-run"),
    "Re-run queued 2nd on build-1",
  );
  const running = { ...QUEUED, status: "running" as const, startedAt: 2 };
  assert.equal(requestFeedback(running, "build-1", []), "Running on build-1");
  assert.equal(
    requestFeedback(
      { ...running, status: "failed", exitCode: 3, completedAt: 3 },
      "build-1",
      [],
    ),
    "Failed on build-1 (exit 3)",
  );
  assert.equal(
    requestFeedback(
      { ...running, status: "completed", exitCode: 0, completedAt: 3 },
      "build-1",
      [],
      "Re-run",
    ),
    "Re-run completed on build-1",
  );
  assert.equal(
    requestFeedback(
      {
        ...QUEUED,
        status: "cancelled",
        completedAt: 2,
        endedBy: { actor: "alice", role: "operator", reason: "no" },
      },
      "build-1",
      [],
    ),
    "Cancelled on build-1 by alice",
  );
  assert.equal(
    requestFeedback(
      {
        ...running,
        status: "timeout",
        completedAt: 9,
        exitSignal: "SIGINT",
        endedBy: { actor: "server", role: "system", reason: "timed out" },
      },
      "build-1",
      [],
    ),
    "Timed out on build-1 by server (SIGINT)",
  );
});

Deno.test("interruptFeedback() says the interrupt was sent while it runs, else how it ended", () => {
  const running = { ...QUEUED, status: "running" as const, startedAt: 2 };
  assert.equal(
    interruptFeedback(running, "build-1"),
    "Interrupt sent to build-1",
  );
  assert.equal(
    interruptFeedback({
      ...running,
      status: "interrupted",
      completedAt: 3,
      endedBy: { actor: "alice", role: "operator", reason: null },
    }, "build-1"),
    "Interrupted on build-1 by alice",
  );
});

Deno.test("refusalFeedback() names the agent instead of ids where the code says enough", () => {
  assert.equal(
    refusalFeedback(
      "AGENT_OFFLINE",
      'Agent "b1" is not connected',
      "build-1",
      "request",
    ),
    "build-1 is offline: not queued",
  );
  assert.equal(
    refusalFeedback("QUEUE_FULL", "x", "build-1", "request"),
    "build-1's queue is full: not queued",
  );
  assert.equal(
    refusalFeedback(
      "NOT_FOUND",
      `Command "${QUEUED.id}" is not queued or running`,
      "build-1",
      "interrupt",
    ),
    "Nothing to interrupt on build-1: it already ended",
  );
  // An emergency stop refused: the server's words.
  assert.equal(
    refusalFeedback(
      "FORBIDDEN",
      'Role "operator" may not stop everything; it needs "admin"',
      "build-1",
      "stop",
    ),
    'Role "operator" may not stop everything; it needs "admin"',
  );
  assert.equal(
    refusalFeedback(
      "RATE_LIMIT",
      "Over 600 commands per minute",
      "build-1",
      "request",
    ),
    "Over 600 commands per minute",
  );
});
