/**
 * The agent's only way to talk to its operator: lines on stderr, each
 * prefixed with `flightdeck-agent: `.
 *
 * @module
 */

/** Where the agent reports what it does. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Prefix of every line the agent prints. */
export const LOG_PREFIX = "flightdeck-agent: ";

/** A logger writing `flightdeck-agent: <message>` lines to stderr. */
export function createStderrLogger(): Logger {
  const write = (message: string) => {
    // deno-lint-ignore no-console
    console.error(LOG_PREFIX + message);
  };
  return { info: write, warn: write, error: write };
}

/** A logger that keeps lines in memory, for tests. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const write = (message: string) => {
    lines.push(LOG_PREFIX + message);
  };
  return { lines, info: write, warn: write, error: write };
}
