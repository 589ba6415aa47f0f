/**
 * Parsers of the agent's session flags: `--stall-after DURATION`,
 * `--waiting-pattern REGEX`, `--input-pattern REGEX` and `--restart`.
 * Each returns the value or an error message naming the flag; none throws.
 *
 * @module
 */

/** Longest duration `--stall-after` accepts: 24 hours. */
export const MAX_STALL_AFTER_MS = 24 * 3600_000;
/** Longest `--waiting-pattern` / `--input-pattern` source, in characters. */
export const MAX_PATTERN_CHARS = 1024;

/** `--restart` values: start the session program again when it exits, or not. */
export const RESTART_MODES = ["never", "always"] as const;
/** One of {@link RESTART_MODES}. */
export type RestartMode = typeof RESTART_MODES[number];

/** Activity settings of sessions and `--pty` commands (`AgentOptions.activity`). */
export interface ActivityFlags {
  /** Working with no progress for this long is `stalled`. */
  stallAfterMs: number;
  /** Replaces the type's waiting patterns. */
  waitingPattern?: RegExp;
  /** Replaces the type's question patterns. */
  inputPattern?: RegExp;
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3600_000,
};

/**
 * A duration like `90s`, `5m`, `1.5h`, `1500ms`, or a bare number of
 * seconds (`300`), from 1 ms to 24 h, as whole milliseconds.
 */
export function parseDuration(
  flag: string,
  text: string,
): { ms: number } | { error: string } {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  const bad = {
    error: `--${flag} must be a duration like 90s, 5m or 1h, not "${text}"`,
  };
  if (!match) return bad;
  const ms = Math.round(Number(match[1]) * UNITS[match[2] ?? "s"]);
  if (!Number.isFinite(ms) || ms < 1) {
    return { error: `--${flag} must be at least 1ms` };
  }
  if (ms > MAX_STALL_AFTER_MS) {
    return { error: `--${flag} must be at most 24h` };
  }
  return { ms };
}

/**
 * A regular expression from a flag, matched against each of the screen's
 * last rows (with the `u` flag: case-sensitive, unanchored). A pattern that matches the empty string would match
 * every row, so it is refused.
 */
export function parsePattern(
  flag: string,
  text: string,
): { pattern: RegExp } | { error: string } {
  if (text.length === 0) return { error: `--${flag} is empty` };
  if (text.length > MAX_PATTERN_CHARS) {
    return {
      error: `--${flag} must be at most ${MAX_PATTERN_CHARS} characters`,
    };
  }
  let pattern: RegExp;
  try {
    pattern = new RegExp(text, "u");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { error: `--${flag} is not a valid regular expression: ${reason}` };
  }
  if (pattern.test("")) {
    return {
      error: `--${flag} matches an empty line, so it would match every row`,
    };
  }
  return { pattern };
}

/** `--restart always|never`. */
export function parseRestart(
  text: string,
): { mode: RestartMode } | { error: string } {
  const mode = RESTART_MODES.find((m) => m === text);
  return mode
    ? { mode }
    : { error: `--restart must be always or never, not "${text}"` };
}
