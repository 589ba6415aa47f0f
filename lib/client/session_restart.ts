/**
 * The "Restart session" line of the Terminal island: shown for an agent in
 * session mode (capability `session`) that is connected and runs no
 * session, with the last session's outcome; and the "Session ended (exit 0)" /
 * "Session failed (exit 3)" badge of the agent list. Pure; no DOM here.
 * @module
 */
import {
  type AgentInfo,
  type CommandInfo,
  FINAL_STATUSES,
  type Role,
} from "../protocol.ts";
import { statusLabel } from "./format.ts";

/** How a session agent's last session ended, as the list and island say it. */
export interface SessionEndView {
  /** `failed`: a non-zero exit or a program that never started. */
  state: "ended" | "failed";
  /** "Session ended (exit 0)", "Session failed (exit 3)", "Session ended (interrupted)". */
  text: string;
  /** Decorative; the text says it. */
  icon: string;
}

/** The words for a session that ended with `status` and `exitCode`. */
function endView(
  status: CommandInfo["status"],
  exitCode: number | null,
): SessionEndView {
  const failed = status === "failed";
  // A failure with no exit code: the program never started.
  const outcome = exitCode !== null
    ? ` (exit ${exitCode})`
    : failed
    ? ""
    : ` (${statusLabel(status)})`;
  return {
    state: failed ? "failed" : "ended",
    text: `Session ${failed ? "failed" : "ended"}${outcome}`,
    icon: failed ? "✕" : "■",
  };
}

/**
 * How `agent`'s last session ended (`AgentInfo.ended`), while it is
 * online in session mode (capability `session`) and runs nothing; null
 * otherwise (offline says it all, a running session shows its activity, and
 * an agent back in exec mode has no session to end or restart).
 */
export function sessionEndView(
  agent: AgentInfo | undefined,
): SessionEndView | null {
  const end = agent?.ended;
  if (
    !end || agent.status === "offline" || agent.currentCommandId !== null ||
    !agent.capabilities.includes("session")
  ) {
    return null;
  }
  return endView(end.status, end.exitCode);
}

/** What the island shows for an agent whose session ended. */
export interface RestartView {
  /** "Session failed (exit 1)", "Session ended (interrupted)", "No session running". */
  text: string;
  /** Whether this user may restart it (operators and admins). */
  allowed: boolean;
}

/**
 * The restart line for `agent` seen by a user with `role`, from the command
 * records this tab knows; null when there is nothing to restart (not a
 * session agent, offline, or its session runs).
 */
export function restartView(
  agent: AgentInfo | undefined,
  role: Role | null,
  commands: Iterable<CommandInfo>,
): RestartView | null {
  if (!agent || !agent.capabilities.includes("session")) return null;
  if (agent.status === "offline" || agent.currentCommandId !== null) {
    return null;
  }
  const allowed = role === "operator" || role === "admin";
  // The server's word first: it holds even when this tab loaded no records.
  const ended = sessionEndView(agent);
  if (ended) return { text: ended.text, allowed };
  let last: CommandInfo | undefined;
  for (const command of commands) {
    if (command.agentId !== agent.id || command.kind !== "session") continue;
    if (!last || command.requestedAt >= last.requestedAt) last = command;
  }
  if (!last || !FINAL_STATUSES.has(last.status)) {
    return { text: "No session running", allowed };
  }
  return { text: endView(last.status, last.exitCode).text, allowed };
}

/** Short human text for an error answering `session:restart`. */
export function restartErrorText(code: string, message = ""): string {
  switch (code) {
    case "SESSION_RUNNING":
      return "The session is already running again.";
    case "AGENT_OFFLINE":
      return "The agent is offline.";
    case "FORBIDDEN":
      return "Your role may not restart sessions.";
    default:
      return message || code;
  }
}
