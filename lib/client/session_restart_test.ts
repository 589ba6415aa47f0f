import assert from "node:assert/strict";
import type { AgentInfo, CommandInfo } from "../protocol.ts";
import {
  restartErrorText,
  restartView,
  sessionEndView,
} from "./session_restart.ts";

const agent = (over: Partial<AgentInfo> = {}): AgentInfo => ({
  id: "a-1",
  name: "a-1",
  type: "claude",
  status: "online",
  capabilities: ["claude", "interrupt", "pty", "session"],
  hostname: "h",
  connectedAt: 1,
  lastSeenAt: 1,
  currentCommandId: null,
  ...over,
});

const session = (over: Partial<CommandInfo>): CommandInfo => ({
  id: "s-1",
  agentId: "a-1",
  command: "claude",
  priority: "normal",
  status: "completed",
  requestedBy: "agent:a-1",
  requestedAt: 10,
  startedAt: 10,
  completedAt: 20,
  exitCode: 0,
  outputBytes: 0,
  kind: "session",
  ...over,
});

Deno.test("restartView: an online session agent running nothing offers a restart with its last session's outcome", () => {
  const older = session({ id: "s-1", requestedAt: 10, exitCode: 0 });
  const newer = session({
    id: "s-2",
    requestedAt: 30,
    status: "failed",
    exitCode: 3,
  });
  assert.deepEqual(restartView(agent(), "operator", [newer, older]), {
    text: "Session failed (exit 3)",
    allowed: true,
  });
  assert.deepEqual(
    restartView(agent(), "admin", [
      session({ status: "interrupted", exitCode: null }),
    ]),
    { text: "Session ended (interrupted)", allowed: true },
  );
  // Viewers see the line, not the button.
  assert.deepEqual(restartView(agent(), "viewer", [older]), {
    text: "Session ended (exit 0)",
    allowed: false,
  });
  // Records of other agents and exec commands do not count.
  assert.deepEqual(
    restartView(agent(), "operator", [
      session({ agentId: "a-2", exitCode: 9 }),
      session({ kind: "exec", exitCode: 8 }),
    ]),
    { text: "No session running", allowed: true },
  );
});

Deno.test("restartView: nothing to restart for an exec agent, an offline one, or one whose session runs", () => {
  const ended = [session({})];
  assert.equal(restartView(undefined, "operator", ended), null);
  assert.equal(
    restartView(agent({ capabilities: ["shell"] }), "operator", ended),
    null,
  );
  assert.equal(
    restartView(agent({ status: "offline" }), "operator", ended),
    null,
  );
  assert.equal(
    restartView(
      agent({ status: "busy", currentCommandId: "s-2" }),
      "operator",
      ended,
    ),
    null,
  );
});

Deno.test("restartErrorText names the refusals of session:restart", () => {
  assert.equal(
    restartErrorText("SESSION_RUNNING"),
    "The session is already running again.",
  );
  assert.equal(restartErrorText("AGENT_OFFLINE"), "The agent is offline.");
  assert.equal(
    restartErrorText("FORBIDDEN"),
    "Your role may not restart sessions.",
  );
  assert.equal(restartErrorText("NOT_FOUND", "Unknown agent"), "Unknown agent");
});

Deno.test("sessionEndView: ended and failed sessions read differently, in words; nothing while one runs or offline", () => {
  const end = (
    status: "completed" | "failed" | "interrupted" | "timeout",
    exitCode: number | null,
  ) => agent({ ended: { commandId: "s-1", status, exitCode } });
  assert.deepEqual(sessionEndView(end("completed", 0)), {
    state: "ended",
    text: "Session ended (exit 0)",
    icon: "■",
  });
  assert.deepEqual(sessionEndView(end("failed", 3)), {
    state: "failed",
    text: "Session failed (exit 3)",
    icon: "✕",
  });
  assert.deepEqual(sessionEndView(end("failed", null)), {
    state: "failed",
    text: "Session failed",
    icon: "✕",
  });
  assert.equal(
    sessionEndView(end("interrupted", null))?.text,
    "Session ended (interrupted)",
  );
  assert.equal(sessionEndView(agent()), null);
  assert.equal(
    sessionEndView({ ...end("failed", 3), currentCommandId: "s-2" }),
    null,
  );
  assert.equal(
    sessionEndView({ ...end("failed", 3), status: "offline" }),
    null,
  );
  // The island's restart line says the same, without any record loaded.
  assert.deepEqual(restartView(end("failed", 3), "operator", []), {
    text: "Session failed (exit 3)",
    allowed: true,
  });
});
