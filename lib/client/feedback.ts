/**
 * What the dashboard says after an operator acted on a command, in words
 * and names, never a bare id: "Queued 2nd on build-1", "Interrupt sent to
 * build-1", "Cancelled on build-1 by alice". Pure functions of the command,
 * its agent's name and queue, so an island re-renders them as those change.
 * @module
 */
import type { CommandInfo, ErrorCode } from "../protocol.ts";
import { exitText, ordinal, statusLabel } from "./format.ts";
import type { QueueEntry } from "./stores.ts";

/**
 * Where a requested command stands now: "Queued 2nd on build-1" (its place
 * in the queue, 1st runs next), "Running on build-1", "Completed on
 * build-1", "Failed on build-1 (exit 3)", "Cancelled on build-1 by alice".
 * `prefix` names what was requested ("Re-run" → "Re-run queued 1st on …").
 */
export function requestFeedback(
  command: CommandInfo,
  agentName: string,
  queue: readonly QueueEntry[] | undefined,
  prefix = "",
): string {
  const lead = (text: string) =>
    prefix ? `${prefix} ${text.toLowerCase()}` : text;
  if (command.status === "queued") {
    const entry = queue?.find((q) => q.commandId === command.id);
    const place = entry ? ` ${ordinal(entry.position + 1)}` : "";
    return lead(`Queued${place} on ${agentName}`);
  }
  if (command.status === "running") return lead(`Running on ${agentName}`);
  return lead(endFeedback(command, agentName));
}

/**
 * The answer to an interrupt: "Interrupt sent to build-1" while the command
 * still runs (it ends when the agent reports it), else how it ended.
 */
export function interruptFeedback(
  command: CommandInfo,
  agentName: string,
): string {
  if (command.status === "running" || command.status === "queued") {
    return `Interrupt sent to ${agentName}`;
  }
  return endFeedback(command, agentName);
}

/** "Interrupted on build-1 by alice (SIGINT)", "Completed on build-1". */
export function endFeedback(command: CommandInfo, agentName: string): string {
  const label = statusLabel(command.status);
  const by = command.endedBy ? ` by ${command.endedBy.actor}` : "";
  const exit = exitText(command);
  return `${label[0].toUpperCase()}${label.slice(1)} on ${agentName}${by}${
    exit && command.status !== "completed" ? ` (${exit})` : ""
  }`;
}

/**
 * A refusal in words about `agentName` where the code says enough; else
 * the server's message (which names no command by id for these codes).
 */
export function refusalFeedback(
  code: ErrorCode | string,
  message: string,
  agentName: string,
  action: "request" | "interrupt" | "stop",
): string {
  if (action === "request") {
    if (code === "AGENT_OFFLINE") return `${agentName} is offline: not queued`;
    if (code === "QUEUE_FULL") {
      return `${agentName}'s queue is full: not queued`;
    }
  } else if (action === "interrupt" && code === "NOT_FOUND") {
    return `Nothing to interrupt on ${agentName}: it already ended`;
  }
  return message;
}
