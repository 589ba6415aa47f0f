/**
 * The "Restart session" line of the Terminal island: shown for an agent in
 * session mode (capability `session`) that is connected and runs no
 * session, with the last session's outcome. Pure; no DOM here.
 * @module
 */
import {
  type AgentInfo,
  type CommandInfo,
  FINAL_STATUSES,
  type Role,
} from "../protocol.ts";

/** What the island shows for an agent whose session ended. */
export interface RestartView {
  /** "Session ended (exit 1)", "Session ended (interrupted)", "No session running". */
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
  let last: CommandInfo | undefined;
  for (const command of commands) {
    if (command.agentId !== agent.id || command.kind !== "session") continue;
    if (!last || command.requestedAt >= last.requestedAt) last = command;
  }
  const allowed = role === "operator" || role === "admin";
  if (!last || !FINAL_STATUSES.has(last.status)) {
    return { text: "No session running", allowed };
  }
  const outcome = last.exitCode !== null
    ? `exit ${last.exitCode}`
    : last.status;
  return { text: `Session ended (${outcome})`, allowed };
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
