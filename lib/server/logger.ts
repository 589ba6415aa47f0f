/**
 * A small leveled logger writing one JSON object per line to stderr:
 * `{"time":"…","level":"warn","msg":"…","fields":{…}}`. Every value goes
 * through `JSON.stringify`, which escapes line breaks, so no message or
 * field (a forwarded browser log line, an agent name) can start a line of
 * its own or forge an entry.
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

/** One parsed log line, as {@link formatEntry} writes it. */
export interface LogEntry {
  /** ISO 8601 time. */
  time: string;
  level: Level;
  msg: string;
  /** Present when the entry has fields. */
  fields?: Record<string, unknown>;
}

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * One log line (without its newline). Values JSON cannot hold (bigints,
 * cycles) are written as strings; U+2028 and U+2029, which some line
 * readers treat as line breaks, are escaped too.
 */
export function formatEntry(
  level: Level,
  message: string,
  fields?: Record<string, unknown>,
  time: Date = new Date(),
): string {
  const entry: LogEntry = { time: time.toISOString(), level, msg: message };
  if (fields && Object.keys(fields).length) entry.fields = fields;
  let line: string;
  try {
    line = JSON.stringify(
      entry,
      (_key, value) => typeof value === "bigint" ? String(value) : value,
    );
  } catch {
    // A cycle: keep each field as text.
    entry.fields = Object.fromEntries(
      Object.entries(fields ?? {}).map(([k, v]) => [k, String(v)]),
    );
    line = JSON.stringify(entry);
  }
  return line.replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/**
 * A logger that prints entries at or above `level` (env `FLIGHTDECK_LOG`,
 * default `info`) as JSON lines (see {@link formatEntry}).
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
      write(formatEntry(at, message, fields));
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
