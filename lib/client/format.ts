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
