/**
 * The agent's only way to talk to its operator: lines on stderr, each
 * prefixed with `flightdeck-agent: `, or in a log file (`--log-file`, and
 * always while a session is shown in the local terminal).
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

/**
 * A logger appending `<ISO time> flightdeck-agent: <message>` lines to
 * `path` (created with mode 600 if missing). A line that cannot be written
 * is dropped: logging never stops the agent.
 */
export function createFileLogger(path: string): Logger {
  const file = Deno.openSync(path, {
    append: true,
    create: true,
    mode: 0o600,
  });
  const encoder = new TextEncoder();
  const write = (message: string) => {
    try {
      file.writeSync(
        encoder.encode(`${new Date().toISOString()} ${LOG_PREFIX}${message}\n`),
      );
    } catch {
      // Disk full or file gone: the agent goes on without this line.
    }
  };
  return { info: write, warn: write, error: write };
}
