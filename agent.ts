// deno-lint-ignore-file no-console -- the CLI entry point talks on stdout/stderr
/**
 * Flightdeck agent: `deno task agent --name NAME [flags]` (see `--help`).
 * Connects to the server, runs the commands it sends and streams their output.
 * In session mode with a terminal on stdin and stdout, the session also shows
 * in that terminal and takes its keys (`lib/agent/local_terminal.ts`); log
 * lines then go to a file. Losing that terminal (SIGHUP, its input ending, a
 * failed write) does not stop the agent: it goes on headless.
 *
 * @module
 */
import { HELP, parseCli, slugify } from "./lib/agent/cli.ts";
import {
  type AgentHandle,
  EXIT_CODES,
  type SessionEvent,
  startAgent,
} from "./lib/agent/connection.ts";
import { loadPty } from "./lib/agent/pty_runner.ts";
import {
  createFileLogger,
  createStderrLogger,
  defaultLogDir,
  LOG_PREFIX,
  type Logger,
  preparePrivateDir,
} from "./lib/agent/logger.ts";
import {
  denoTerminalIo,
  hasTerminal,
  LocalTerminal,
} from "./lib/agent/local_terminal.ts";
import { TERMINAL_SIZE } from "./lib/protocol.ts";
import { reduceMemory } from "./lib/gc_nudge.ts";

/** Warnings and errors kept to print after the local terminal is restored. */
const KEPT_LINES = 10;

/** Run the agent CLI; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  const cli = parseCli(args, Deno.env.toObject(), Deno.cwd());
  if (cli.kind === "help") {
    console.log(HELP);
    return EXIT_CODES.OK;
  }
  if (cli.kind === "error") {
    console.error(
      `flightdeck-agent: ${cli.message}. Run with --help for usage.`,
    );
    return EXIT_CODES.USAGE;
  }
  for (const warning of cli.warnings) {
    console.error(`flightdeck-agent: ${warning}`);
  }
  // The token is in `cli.options` now: commands (and the AI CLIs they run)
  // inherit this environment and must not be able to read or print it.
  for (const name of ["FLIGHTDECK_TOKEN", "FLIGHTDECK_TOKEN_FILE"]) {
    Deno.env.delete(name);
  }
  const options = { ...cli.options };
  if (cli.pty) {
    // Fail here, before connecting, rather than in the middle of a command.
    try {
      options.pty = { api: await loadPty(), ...cli.pty };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.error(
        `flightdeck-agent: ${message}. Run without --pty and --session.`,
      );
      return EXIT_CODES.USAGE;
    }
  }
  const interactive = options.session !== undefined && !cli.headless &&
    hasTerminal();
  // Log lines must not draw over a session shown in this terminal.
  let logPath = cli.logFile;
  let sink: Logger;
  try {
    if (logPath === undefined && interactive) {
      const dir = defaultLogDir(Deno.env.toObject());
      if (dir === null) {
        throw new Error(
          "neither XDG_STATE_HOME nor HOME is set: name one with --log-file",
        );
      }
      preparePrivateDir(dir);
      logPath = `${dir}/agent-${slugify(options.agentId)}.log`;
    }
    sink = logPath ? createFileLogger(logPath) : createStderrLogger();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error(
      `flightdeck-agent: cannot open log file${
        logPath ? ` ${logPath}` : ""
      }: ${reason}`,
    );
    return EXIT_CODES.USAGE;
  }
  const kept: string[] = [];
  const keep = (message: string) => {
    kept.push(LOG_PREFIX + message);
    if (kept.length > KEPT_LINES) kept.shift();
  };
  const logger: Logger = {
    info: (message) => sink.info(message),
    warn: (message) => (keep(message), sink.warn(message)),
    error: (message) => (keep(message), sink.error(message)),
  };
  options.logger = logger;

  let agent: AgentHandle | undefined;
  let stopping = false;
  const stop = (why: string) => {
    // A second stop request does not wait for the session to finish.
    if (stopping) Deno.exit(130);
    stopping = true;
    logger.info(`stopping (${why})`);
    void agent?.stop();
  };
  let local: LocalTerminal | undefined;
  if (interactive && options.pty) {
    local = new LocalTerminal(denoTerminalIo(), {
      onInput: (data) => agent?.sessionInput(data),
      onResize: (cols, rows) => agent?.sessionResize(...clampSize(cols, rows)),
      onDetach: () => stop("Ctrl-] pressed"),
      // The session goes on for the dashboards; only this terminal is gone.
      onLost: (why) =>
        logger.warn(
          `the local terminal is gone (${why}): the session goes on ` +
            `headless; stop the agent with SIGTERM`,
        ),
      onDropped: (bytes) =>
        logger.warn(
          `the local terminal fell behind: ${bytes} bytes of session output ` +
            `not shown there (the session's stream is complete)`,
        ),
    });
    // The session starts at this terminal's size.
    const size = local.size();
    if (size) {
      const [cols, rows] = clampSize(size.cols, size.rows);
      options.pty = { ...options.pty, cols, rows };
    }
    options.onSessionOutput = (text) => local?.write(text);
    options.onSessionEvent = (event) => {
      // Quitting ends the session: the message after exit says so.
      if (!stopping) local?.notice(sessionNotice(event));
    };
    const restore = () => local?.restore();
    globalThis.addEventListener("unload", restore);
    globalThis.addEventListener("error", restore);
    globalThis.addEventListener("unhandledrejection", restore);
    console.error(
      `flightdeck-agent: session ${options.agentId} in this terminal, ` +
        `also shared with ${options.serverUrl}; Ctrl-] quits (Ctrl-C goes ` +
        `to the program); log in ${logPath}`,
    );
    local.start();
  }
  const onSignal = () => stop("signal");
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // Give back what start-up left behind (lib/gc_nudge.ts).
  reduceMemory();
  let code: number;
  try {
    agent = startAgent(options);
    code = await agent.done;
  } finally {
    await local?.restore();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  if (interactive) {
    // The log lines that explain an unusual exit, now that they cannot
    // draw over the session.
    if (code !== EXIT_CODES.OK) {
      for (const line of kept) console.error(line);
    }
    console.error(
      `flightdeck-agent: stopped (exit code ${code}); log in ${logPath}`,
    );
  }
  return code;
}

/** A local terminal's size within what the protocol accepts. */
function clampSize(cols: number, rows: number): [number, number] {
  return [
    Math.min(Math.max(cols, 1), TERMINAL_SIZE.maxCols),
    Math.min(Math.max(rows, 1), TERMINAL_SIZE.maxRows),
  ];
}

/** The line the local terminal shows when the session starts or ends. */
function sessionNotice(event: SessionEvent): string {
  if (event.kind === "started") {
    return `session ${event.commandId} started (${event.cols}x${event.rows})`;
  }
  const outcome = event.exitCode === null
    ? event.status
    : `${event.status}, exit ${event.exitCode}`;
  const next = event.restartInMs !== null
    ? `restarting in ${event.restartInMs / 1000} s`
    : "restart it from the dashboard, or press Ctrl-] to quit";
  return `session ended (${outcome}); ${next}`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
