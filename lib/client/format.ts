/**
 * Small display helpers shared by components and islands (pure, no DOM).
 * @module
 */
import type { CommandInfo } from "../protocol.ts";

/**
 * A duration for people: `850 ms`, `4.2 s`, `3 m 07 s`, `2 h 05 m`.
 * @throws {RangeError} When `ms` is negative or not finite.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`Invalid duration "${ms}"`);
  }
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) {
    return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  }
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
}

/** How long a command ran (or has been running, given `now`), or `""`. */
export function commandDuration(
  c: CommandInfo,
  now: number = Date.now(),
): string {
  if (c.startedAt === null) return "";
  return formatDuration(Math.max(0, (c.completedAt ?? now) - c.startedAt));
}

/** `HH:MM:SS` in UTC, stable between server and browser rendering. */
export function formatClock(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(11, 19);
}

/** First line of a command, shortened to `max` characters. */
export function shortCommand(text: string, max = 80): string {
  const line = text.split("\n", 1)[0];
  const more = line.length < text.length;
  if (line.length > max) return `${line.slice(0, max - 1)}…`;
  return more ? `${line} …` : line;
}

/** `1st`, `2nd`, `3rd`, `4th`, `11th`, `12th`, `21st`, … */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13
    ? "th"
    : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${suffix}`;
}

/** How a command's status reads for people (`timeout` reads "timed out"). */
export function statusLabel(status: CommandInfo["status"]): string {
  return status === "timeout" ? "timed out" : status;
}

/**
 * Who ended a command and why: `alice: not today`, `server: timed out
 * after 30 s`, `bob` (no reason); `""` when nobody did (it ran to its end,
 * or has not ended).
 */
export function endedByText(c: CommandInfo): string {
  if (!c.endedBy) return "";
  const { actor, reason } = c.endedBy;
  return reason ? `${actor}: ${reason}` : actor;
}

/**
 * How its process ended: `exit 3`, `SIGINT`, `exit 143 (SIGTERM)`; `""`
 * when neither is known.
 */
export function exitText(c: CommandInfo): string {
  const signal = c.exitSignal ?? null;
  if (c.exitCode === null) return signal ?? "";
  return signal ? `exit ${c.exitCode} (${signal})` : `exit ${c.exitCode}`;
}

/** `HH:MM:SS` in UTC of `epochMs`, or `""` for null. */
export function clockOrEmpty(epochMs: number | null): string {
  return epochMs === null ? "" : formatClock(epochMs);
}

/**
 * Everything about a command in a few lines, for a tooltip: its id, who
 * requested it and when, start, end, duration, how it ended.
 */
export function commandSummary(c: CommandInfo): string {
  const lines = [
    `Command ${c.id}`,
    `Requested by ${c.requestedBy} at ${formatClock(c.requestedAt)} UTC`,
  ];
  if (c.startedAt !== null) lines.push(`Started ${formatClock(c.startedAt)}`);
  if (c.completedAt !== null) {
    lines.push(`Ended ${formatClock(c.completedAt)}`);
  }
  const took = commandDuration(c, c.completedAt ?? c.startedAt ?? 0);
  if (took && c.completedAt !== null) lines.push(`Took ${took}`);
  lines.push(`Status: ${statusLabel(c.status)}`);
  if (c.endedBy) {
    lines.push(`Ended by ${c.endedBy.actor} (${c.endedBy.role})`);
    if (c.endedBy.reason) lines.push(`Reason: ${c.endedBy.reason}`);
  }
  const exit = exitText(c);
  if (exit) lines.push(`Exit: ${exit}`);
  if (c.timeoutMs) lines.push(`Timeout: ${formatDuration(c.timeoutMs)}`);
  return lines.join("\n");
}
