/**
 * What the Terminal island shows: which commands are in view and the text
 * (header line + cached output) written for each. Pure; no xterm here.
 * @module
 */
import type { CommandInfo } from "../protocol.ts";

/** Commands shown at most when following an agent. */
export const VIEW_LIMIT = 10;

/** The header line written before a command's output: `$ command`, bold and dim. */
export function commandHeader(
  command: CommandInfo | undefined,
  commandId: string,
): string {
  const text = (command?.command ?? commandId).replace(/\r?\n/g, "\r\n  ");
  return `\x1b[1;2m$ ${text}\x1b[0m\r\n`;
}

/** Footer written after a finished command's output, or `""`. */
export function commandFooter(command: CommandInfo | undefined): string {
  if (!command || command.status === "queued" || command.status === "running") {
    return "";
  }
  const code = command.exitCode === null ? "" : ` (exit ${command.exitCode})`;
  const color = command.status === "completed"
    ? 32
    : command.status === "failed"
    ? 31
    : 33;
  return `\x1b[2;${color}m[${command.status}${code}]\x1b[0m\r\n`;
}

function startOf(c: CommandInfo): number {
  return c.startedAt ?? c.requestedAt;
}

/**
 * Ids of the commands in view, oldest first: one `commandId` when a command is
 * selected, else the last {@link VIEW_LIMIT} started commands of `agentId`.
 */
export function viewCommandIds(
  commands: Iterable<CommandInfo>,
  agentId: string | null,
  commandId: string | null,
  limit: number = VIEW_LIMIT,
): string[] {
  if (commandId !== null) return [commandId];
  if (agentId === null) return [];
  const started: CommandInfo[] = [];
  for (const c of commands) {
    if (
      c.agentId === agentId && c.status !== "queued" &&
      !(c.status === "interrupted" && c.startedAt === null)
    ) {
      started.push(c);
    }
  }
  started.sort((a, b) => startOf(a) - startOf(b) || (a.id < b.id ? -1 : 1));
  return started.slice(-limit).map((c) => c.id);
}

/** Whether output of `agentId`/`commandId` belongs to the current view. */
export function isInView(
  view: { agentId: string | null; commandId: string | null },
  event: { agentId: string; commandId: string },
): boolean {
  if (view.commandId !== null) return event.commandId === view.commandId;
  return view.agentId !== null && event.agentId === view.agentId;
}
