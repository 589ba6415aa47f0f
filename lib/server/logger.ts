/**
 * A small leveled logger writing one line per event to stderr.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type Level = "debug" | "info" | "warn" | "error";

/** Structured logger. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A logger that prints entries at or above `level` (env `FLIGHTDECK_LOG`,
 * default `info`) as `time level message key=value...`.
 */
export function createLogger(
  level: Level = (Deno.env.get("FLIGHTDECK_LOG") as Level | undefined) ??
    "info",
  write: (line: string) => void = (line) => {
    // deno-lint-ignore no-console
    console.error(line);
  },
): Logger {
  const min = RANK[level] ?? RANK.info;
  const emit =
    (at: Level) => (message: string, fields?: Record<string, unknown>) => {
      if (RANK[at] < min) return;
      const extra = fields
        ? Object.entries(fields).map(([k, v]) => ` ${k}=${JSON.stringify(v)}`)
          .join("")
        : "";
      write(
        `${new Date().toISOString()} ${at.toUpperCase()} ${message}${extra}`,
      );
    };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
  };
}

/** A logger that prints nothing (tests). */
export const silentLogger: Logger = createLogger("error", () => {});
