/**
 * The agent's link to the server: socket, `agent:connect` handshake,
 * heartbeat, dead-socket detection and reconnect with backoff
 * (docs/protocol.md, "Agent → server", "Server → agent").
 *
 * @module
 */
import {
  byteLength,
  CLOSE_CODES,
  type FromAgent,
  fromAgent,
  type GitInfo,
  LIMITS,
  OUTPUT_WINDOW,
  parseServerToAgentMessage,
  type ServerToAgentMessage,
  shouldReconnect,
} from "../protocol.ts";
import { BACKOFF_RESET_AFTER_MS, backoffDelay } from "../backoff.ts";
import {
  Executor,
  loadPtyView,
  type PtySettings,
  type SendFn,
} from "./executor.ts";
import { createStderrLogger, type Logger } from "./logger.ts";
import { activityMessage } from "./activity_message.ts";
import { readGitInfo } from "./git_info.ts";
import { SessionRestarter } from "./restart.ts";
import type { ActivityFlags, RestartMode } from "./session_flags.ts";
import {
  type ClaudeHookServer,
  runsClaude,
  startClaudeHookServer,
  withClaudeHooks,
} from "./claude_hooks.ts";

/** `text` cut to at most `maxBytes` UTF-8 bytes, on a character boundary. */
function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back up to the start of a character (not a continuation byte).
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/** Longest wait for the server's acks when the agent stops (see `finish`). */
export const STOP_ACK_WAIT_MS = 2000;

/** Version the agent reports in `agent:connect`. */
export const AGENT_VERSION = "1.0.0";

/** Process exit codes of the agent. */
export const EXIT_CODES = {
  /** Stopped normally (signal, or the server closed with 1000). */
  OK: 0,
  /** Bad command-line flags. */
  USAGE: 2,
  /** The server rejected the token (AUTH_FAILED / 4401). */
  AUTH_FAILED: 3,
  /** Replaced by another agent with the same id (4409), or forbidden (4403). */
  REJECTED: 4,
} as const;

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /** `http(s)://host[:port]` of the server. */
  serverUrl: string;
  token: string;
  agentId: string;
  name: string;
  /** `shell`, `claude`, `gemini`, `codex` or another one-shot type. */
  type: string;
  cwd: string;
  /** Tags shown on dashboards and filtered by (`--tag`); default none. */
  tags?: string[];
  /**
   * Report the git state of `cwd` (branch, commit, dirty) in
   * `agent:connect`, and with `agent:git` when it changes after a command
   * or a session turn (default false; the CLI turns it on unless
   * `--no-git`).
   */
  reportGit?: boolean;
  /** argv prefix per non-shell type (the prompt is appended). */
  templates: Record<string, string[]>;
  /** Interrupt escalation step (default 2000). */
  graceMs?: number;
  /**
   * Timeout (ms) of this agent's commands whose request names none,
   * reported in `agent:connect` (default: the server's).
   */
  defaultTimeoutMs?: number;
  /**
   * Cap of the output window: the agent holds at most the smaller of this
   * and the server's `outputWindowBytes` unacknowledged (default 64 MiB).
   */
  maxBufferBytes?: number;
  /** Run commands in a pseudo-terminal (default: pipes); needed by `session`. */
  pty?: PtySettings;
  /**
   * Session mode: run `argv` once in a PTY as this agent's session (see
   * `session:start`); capability `session`, so the server dispatches only
   * prompts (kind `prompt`) to it. An exec command received anyway is
   * refused: it ends `failed` without running (see `Executor.refuse`).
   */
  session?: {
    argv: string[];
    /**
     * `always`: start the program again as a new session when it exits,
     * with backoff (see `restart.ts`); default `never`.
     */
    restart?: RestartMode;
  };
  /**
   * How sessions and `--pty` commands are read for activity: stall time and
   * pattern overrides (`--stall-after`, `--waiting-pattern`,
   * `--input-pattern`); default the type's detector and 5 min.
   */
  activity?: ActivityFlags;
  /**
   * Report a `claude` session's activity from Claude Code's hooks as well as
   * from its screen (see `claude_hooks.ts`); default true. Applies when the
   * type is `claude` and the session's program is named `claude`.
   */
  claudeHooks?: boolean;
  /** Default 1500. */
  heartbeatIntervalMs?: number;
  /** Silence after which the socket counts as dead (default 5000). */
  deadAfterMs?: number;
  logger?: Logger;
  /** Jitter source for the backoff (default Math.random). */
  random?: () => number;
  /** The session's output as its PTY produced it (the local terminal). */
  onSessionOutput?: (text: string) => void;
  /** A session started or ended (the local terminal says so). */
  onSessionEvent?: (event: SessionEvent) => void;
}

/** What {@link AgentOptions.onSessionEvent} reports. */
export type SessionEvent =
  | { kind: "started"; commandId: string; cols: number; rows: number }
  | {
    kind: "ended";
    commandId: string;
    status: string;
    exitCode: number | null;
    /** When `--restart always` starts it again (ms), else null. */
    restartInMs: number | null;
  };

/** A running agent. */
export interface AgentHandle {
  /** Resolves with the process exit code once the agent stopped. */
  done: Promise<number>;
  /** Interrupt the running command, close with 1000; resolves when done. */
  stop(): Promise<void>;
  /** Type `data` into the running session (the local terminal's keys). */
  sessionInput(data: string): void;
  /**
   * Resize the running session's PTY (the local terminal's size); the size
   * a restarted session starts at, too.
   */
  sessionResize(cols: number, rows: number): void;
}

/**
 * `ws(s)://host/ws/agent` for an `http(s)://` server URL.
 *
 * @throws {TypeError} When the URL is invalid or not http(s).
 */
export function agentSocketUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Invalid server URL "${serverUrl}": use http(s)://`);
  }
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.pathname = "/ws/agent";
  url.search = "";
  url.hash = "";
  return url.href;
}

/** Whether two git states are the same (null and undefined: none). */
function sameGit(a: GitInfo | null | undefined, b: GitInfo | null | undefined) {
  return (a?.branch ?? null) === (b?.branch ?? null) &&
    a?.commit === b?.commit && a?.dirty === b?.dirty;
}

/** Connect to the server and run the commands it sends until stopped. */
export function startAgent(options: AgentOptions): AgentHandle {
  const logger = options.logger ?? createStderrLogger();
  const heartbeatMs = options.heartbeatIntervalMs ?? 1500;
  const deadAfterMs = options.deadAfterMs ?? 5000;
  const wsUrl = agentSocketUrl(options.serverUrl);
  const { agentId, name, type } = options;
  /** The current token: replaced in memory by each `auth:refreshed`. */
  let token = options.token;

  let socket: WebSocket | undefined;
  let acked = false;
  let stopped = false;
  let attempt = 0;
  let connectedAt: number | undefined;
  let heartbeatSeq = 0;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let refresh: ReturnType<typeof setTimeout> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => resolveDone = resolve);

  /**
   * Send one frame; its size in UTF-8 bytes, 0 when not sent. With
   * `utf8Extra` (UTF-8 bytes beyond the frame's UTF-16 length, counted by
   * the caller) the frame is not scanned.
   */
  const rawSend = (message: FromAgent, utf8Extra?: number): number => {
    if (!socket || socket.readyState !== WebSocket.OPEN) return 0;
    try {
      const frame = JSON.stringify(message);
      socket.send(frame);
      return utf8Extra === undefined
        ? byteLength(frame)
        : frame.length + utf8Extra;
    } catch {
      return 0;
    }
  };
  const send: SendFn = (message, utf8Extra) => {
    const size = acked ? rawSend(message, utf8Extra) : 0;
    // A command may have switched branches or changed files.
    if (message.type === "command:completed") refreshGit();
    return size;
  };

  /** The git state last read (undefined: not read yet; null: no repository). */
  let git: GitInfo | null | undefined;
  /** The git state the server has (from `agent:connect` or `agent:git`). */
  let gitSent: GitInfo | null | undefined;
  /** The read in flight, and whether another was asked for meanwhile. */
  let gitReading: Promise<void> | null = null;
  let gitAgain = false;
  /**
   * Read the git state again (one read at a time; asks made meanwhile run
   * one more read after it) and send `agent:git` when it changed from what
   * the server has.
   */
  const refreshGit = (): Promise<void> => {
    if (!options.reportGit || stopped) return Promise.resolve();
    if (gitReading) {
      gitAgain = true;
      return gitReading;
    }
    gitReading = (async () => {
      do {
        gitAgain = false;
        git = await readGitInfo(options.cwd);
      } while (gitAgain && !stopped);
      gitReading = null;
      if (acked && !sameGit(git, gitSent)) {
        if (rawSend(fromAgent("agent:git", { git })) > 0) gitSent = git;
      }
    })();
    return gitReading;
  };
  const executor = new Executor({
    type,
    cwd: options.cwd,
    graceMs: options.graceMs ?? 2000,
    maxBufferBytes: options.maxBufferBytes ?? 64 * 1024 * 1024,
    templates: options.templates,
    pty: options.pty,
    activity: options.activity,
    send,
    logger,
    // Lost while disconnected: the latest state goes out again on connect.
    onActivity: (state) => {
      if (acked) rawSend(activityMessage(state));
      // A session's turn ended: it may have committed or changed files.
      if (state.activity === "waiting") void refreshGit();
    },
    onSessionOutput: (commandId, text) => {
      if (commandId === sessionId) options.onSessionOutput?.(text);
    },
    onSessionEnd: (completion) => {
      if (completion.commandId !== sessionId) return;
      const restartInMs = stopped ? null : restarter.ended();
      if (restartInMs !== null) {
        logger.info(
          `session ${completion.commandId} ended; restarting in ` +
            `${restartInMs} ms (--restart always)`,
        );
      }
      options.onSessionEvent?.({
        kind: "ended",
        commandId: completion.commandId,
        status: completion.status,
        exitCode: completion.exitCode,
        restartInMs,
      });
    },
  });

  /**
   * The size the session's PTY has now (the configured one until a local
   * or controller resize) and a restarted session starts at.
   */
  const sessionSize = {
    cols: options.pty?.cols ?? 0,
    rows: options.pty?.rows ?? 0,
  };
  const restarter = new SessionRestarter({
    mode: options.session?.restart ?? "never",
    onRestart: () => newSession("--restart always"),
  });
  /**
   * Ask for a new session record now (its program ended): the next
   * `session:started` starts it. Not connected: the next connection asks.
   */
  const newSession = (why: string) => {
    if (stopped || executor.sessionLive) return;
    restarter.cancel();
    logger.info(`starting the session again (${why})`);
    sessionGranted = false;
    if (acked) requestSession();
  };

  /**
   * Session mode: whether the server granted the session (a
   * `session:started` arrived) and which record it is. Until then every
   * `connection:ack` asks with `session:start`; once granted the agent
   * asks again only to restart an ended session (`--restart always`, or a
   * dashboard's `session:restart`).
   */
  let sessionGranted = false;
  let sessionId: string | undefined;
  /** Whether a hook event arrived (logged once: the hooks work). */
  let hookHeard = false;
  /**
   * The hook endpoint of a `claude` session (listening from the start); none
   * when loopback cannot be listened on (the screen alone is read then).
   */
  let hookServer: ClaudeHookServer | undefined;
  if (
    options.session && options.claudeHooks !== false && type === "claude" &&
    runsClaude(options.session.argv)
  ) {
    try {
      hookServer = startClaudeHookServer({
        onActivity: (state, event) => {
          if (!hookHeard) {
            hookHeard = true;
            logger.info(`claude hooks: first event ${event} received`);
          }
          executor.sessionSignal(state);
        },
        logger,
      });
    } catch (error) {
      logger.warn(
        `cannot listen for Claude Code hooks on 127.0.0.1 (${error}); ` +
          `claude's activity is read from its screen only`,
      );
    }
  }
  /** The session's argv and environment, with the hooks when they apply. */
  const sessionProgram = (argv: string[]) => {
    if (!hookServer) return { argv, env: undefined };
    const hooked = withClaudeHooks(argv, hookServer.settings, options.cwd);
    if ("error" in hooked) {
      logger.warn(
        `${hooked.error}; running claude without Flightdeck's hooks ` +
          `(activity is read from its screen only)`,
      );
      return { argv, env: undefined };
    }
    return { argv: hooked.argv, env: hookServer.env };
  };
  const requestSession = () => {
    const session = options.session;
    if (!session || sessionGranted || !options.pty) return;
    const program = session.argv.join(" ");
    rawSend(fromAgent("session:start", {
      // Shown only; cut to the limit on a character boundary.
      program: truncateUtf8(program, LIMITS.maxSessionProgramBytes),
      cols: sessionSize.cols,
      rows: sessionSize.rows,
    }));
  };

  const clearTimers = () => {
    clearInterval(heartbeat);
    clearTimeout(watchdog);
    clearTimeout(retry);
    clearTimeout(refresh);
    heartbeat =
      watchdog =
      retry =
      refresh =
        undefined;
  };

  /**
   * Ask for a fresh token (`auth:refresh`) once half of the current one's
   * remaining lifetime has passed, so a long-running agent never exits
   * because its token aged. Long delays are reached in steps (timers hold
   * at most 2^31-1 ms).
   */
  const scheduleRefresh = (expiresAt: number | undefined) => {
    clearTimeout(refresh);
    refresh = undefined;
    if (expiresAt === undefined) return;
    const at = Date.now() + Math.max(1000, (expiresAt - Date.now()) / 2);
    const step = () => {
      const wait = at - Date.now();
      if (wait > 0) {
        refresh = setTimeout(step, Math.min(wait, 2 ** 31 - 1));
        return;
      }
      refresh = undefined;
      if (acked) rawSend(fromAgent("auth:refresh", {}));
    };
    step();
  };

  /**
   * Detach and close the current socket; its events are ignored from now.
   * Resolves once the close handshake is done (at most 1 s), so exiting
   * right after does not cut the last frames off.
   */
  const dropSocket = (code: number, reason: string): Promise<void> => {
    const ws = socket;
    socket = undefined;
    acked = false;
    clearInterval(heartbeat);
    clearTimeout(watchdog);
    clearTimeout(refresh);
    heartbeat = watchdog = refresh = undefined;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    ws.onopen = ws.onmessage = ws.onerror = null;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1000);
      ws.onclose = () => {
        clearTimeout(timer);
        resolve();
      };
      try {
        ws.close(code, reason);
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  };

  const armWatchdog = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      void dropSocket(4408, "no frame from the server");
      reconnect(`no frame from the server for ${deadAfterMs} ms`);
    }, deadAfterMs);
  };

  const reconnect = (why: string) => {
    if (stopped) return;
    if (
      connectedAt !== undefined &&
      Date.now() - connectedAt >= BACKOFF_RESET_AFTER_MS
    ) {
      attempt = 0;
    }
    connectedAt = undefined;
    const delay = backoffDelay(attempt++, options.random);
    logger.warn(`${why}; reconnecting in ${delay} ms (attempt ${attempt})`);
    retry = setTimeout(connect, delay);
  };

  /** Resolves the wait of {@link acknowledged} (set while it waits). */
  let allAcked: (() => void) | undefined;
  /**
   * While connected, wait (at most {@link STOP_ACK_WAIT_MS}) until the
   * server acknowledged every completion and chunk: a server drops what an
   * agent sent before closing if the close overtakes it, and the interrupted
   * command or session would stay `running` there until the agent is back.
   */
  const acknowledged = async () => {
    if (!acked || executor.running().length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      allAcked = resolve;
      timer = setTimeout(resolve, STOP_ACK_WAIT_MS);
    });
    clearTimeout(timer);
    allAcked = undefined;
  };

  const finish = async (code: number) => {
    if (stopped) return;
    stopped = true;
    restarter.cancel();
    clearTimeout(retry);
    await gitReading;
    await executor.stop();
    await acknowledged();
    await dropSocket(CLOSE_CODES.NORMAL.code, "agent stopping");
    clearTimers();
    await hookServer?.close();
    resolveDone(code);
  };

  const rejectToken = (message: string) => {
    logger.error(
      `the server rejected the token (AUTH_FAILED): ${message}. Create a new ` +
        `one with: deno task token --role agent --agent-id ${agentId}`,
    );
    void dropSocket(CLOSE_CODES.NORMAL.code, "token rejected");
    void finish(EXIT_CODES.AUTH_FAILED);
  };

  const onClose = (code: number, reason: string) => {
    socket = undefined;
    acked = false;
    clearTimeout(refresh);
    refresh = undefined;
    const why = `connection closed (code ${code}${
      reason ? `: ${reason}` : ""
    })`;
    if (code === CLOSE_CODES.UNAUTHENTICATED.code) {
      rejectToken(reason || "not authenticated or token expired");
    } else if (code === CLOSE_CODES.REPLACED.code) {
      logger.error(
        `${why}: REPLACED by another agent that connected with id ` +
          `${agentId}; exiting. Give each agent its own id (--id)`,
      );
      void finish(EXIT_CODES.REJECTED);
    } else if (code === CLOSE_CODES.FORBIDDEN.code) {
      logger.error(`${why}: the server refused this agent; exiting`);
      void finish(EXIT_CODES.REJECTED);
    } else if (code === CLOSE_CODES.NORMAL.code || !shouldReconnect(code)) {
      logger.info(`${why}; exiting`);
      void finish(EXIT_CODES.OK);
    } else {
      reconnect(why);
    }
  };

  const handle = (message: ServerToAgentMessage) => {
    switch (message.type) {
      case "connection:ack":
        acked = true;
        connectedAt = Date.now();
        logger.info(
          `connected to ${options.serverUrl} as ${name} ` +
            `(id ${message.payload.agentId})`,
        );
        if (message.payload.replaced) {
          logger.warn(
            `REPLACED another connection with agent id ${agentId}: an agent ` +
              `with this id was connected and has been disconnected (4409). ` +
              `If that was not a restart of this agent, two agents share the id`,
          );
        }
        scheduleRefresh(message.payload.expiresAt);
        // Resend before anything else goes out on this connection: chunks
        // sent on the old one may be lost, and order must hold.
        executor.resend(
          message.payload.outputWindowBytes ?? OUTPUT_WINDOW.defaultBytes,
        );
        // The server forgets activity on every connect: report it again.
        if (executor.activity) rawSend(activityMessage(executor.activity));
        // The repository may have changed while disconnected.
        void refreshGit();
        requestSession();
        break;
      case "session:started": {
        const { command } = message.payload;
        if (!options.session || command.kind !== "session") break;
        if (stopped) {
          logger.info(`stopping: not starting session ${command.id}`);
          break;
        }
        // Granted already, or the record of the session that just ended.
        if (sessionGranted || command.id === sessionId) {
          if (!executor.sessionLive || command.id !== sessionId) {
            logger.warn(`ignored session:started for ${command.id}`);
          }
          break;
        }
        sessionGranted = true;
        sessionId = command.id;
        restarter.started();
        logger.info(
          `session ${command.id}: running ${options.session.argv.join(" ")}`,
        );
        // A restarted session starts at the size the last one had.
        const program = sessionProgram(options.session.argv);
        executor.startSession(
          command,
          program.argv,
          { ...sessionSize },
          program.env,
        );
        options.onSessionEvent?.({
          kind: "started",
          commandId: command.id,
          ...sessionSize,
        });
        break;
      }
      case "session:restart":
        if (!options.session) break;
        if (executor.sessionLive) {
          logger.warn(
            `ignored session:restart from ${message.payload.requestedBy}: ` +
              `the session is running`,
          );
          break;
        }
        newSession(`asked by ${message.payload.requestedBy}`);
        break;
      case "auth:refreshed":
        token = message.payload.token;
        logger.info(
          `token refreshed; valid until ${
            new Date(message.payload.expiresAt).toISOString()
          }`,
        );
        scheduleRefresh(message.payload.expiresAt);
        break;
      case "command:execute": {
        const { command } = message.payload;
        if (stopped) {
          // Stopping: start nothing new. The server still has it as
          // dispatched and not started, so it goes back to the queue (and
          // stays `queued`) when this agent connects again.
          logger.info(`stopping: not starting ${command.id}`);
          break;
        }
        if (options.session && command.kind !== "prompt") {
          // Session mode runs its session and prompts only: an exec command
          // would run with bash after the session ends. Refuse it.
          executor.refuse(
            command,
            `this agent runs in session mode (--session): exec commands ` +
              `are not run here`,
          );
          break;
        }
        executor.execute(command);
        break;
      }
      case "terminal:ack":
        executor.ack(
          message.payload.commandId,
          message.payload.seq,
          message.payload.completed,
        );
        if (allAcked && executor.running().length === 0) allAcked();
        break;
      case "terminal:input":
        executor.input(message.payload.commandId, message.payload.data);
        break;
      case "terminal:resize": {
        const { commandId, cols, rows } = message.payload;
        if (commandId === sessionId && executor.sessionLive) {
          sessionSize.cols = cols;
          sessionSize.rows = rows;
        }
        executor.resize(commandId, cols, rows);
        break;
      }
      case "command:interrupt":
        executor.interrupt(
          message.payload.commandId,
          message.payload.reason,
          message.payload.graceMs,
        );
        break;
      case "heartbeat":
        break;
      case "error": {
        const { code, message: text } = message.payload;
        if (code === "AUTH_FAILED") return rejectToken(text);
        logger.warn(`server error ${code}: ${text}`);
        if (code === "VERSION_UNSUPPORTED") void finish(EXIT_CODES.REJECTED);
        break;
      }
    }
  };

  function connect() {
    retry = undefined;
    if (stopped) return;
    let ws: WebSocket;
    try {
      // Deno accepts `{ headers }` as the second argument; the DOM typings
      // in deno.json only know `protocols`, hence Reflect.construct.
      ws = Reflect.construct(WebSocket, [wsUrl, {
        headers: { Authorization: `Bearer ${token}` },
      }]);
    } catch (error) {
      return reconnect(`cannot connect to ${wsUrl}: ${error}`);
    }
    socket = ws;
    armWatchdog();
    ws.onopen = () => {
      // Untyped prompts go back to the server's queue (not in `running`).
      executor.releaseHeldPrompts();
      rawSend(fromAgent("agent:connect", {
        token,
        agentId,
        name,
        type,
        capabilities: [
          type,
          "interrupt",
          ...(options.pty ? ["pty"] : []),
          ...(options.session ? ["session"] : []),
        ],
        hostname: Deno.hostname(),
        version: AGENT_VERSION,
        running: executor.running(),
        ...(options.tags?.length ? { tags: options.tags } : {}),
        cwd: options.cwd,
        ...(git ? { git } : {}),
        ...(options.defaultTimeoutMs !== undefined
          ? { defaultTimeoutMs: options.defaultTimeoutMs }
          : {}),
      }));
      gitSent = git ?? null;
      heartbeat = setInterval(() => {
        rawSend(fromAgent("heartbeat", { sequence: ++heartbeatSeq }));
      }, heartbeatMs);
    };
    ws.onmessage = (event) => {
      armWatchdog();
      const parsed = parseServerToAgentMessage(event.data);
      if (!parsed.ok) {
        logger.warn(
          `ignored an invalid frame from the server: ${parsed.message}`,
        );
        return;
      }
      handle(parsed.message);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      void dropSocket(event.code, "");
      onClose(event.code, event.reason);
    };
  }

  // The first `agent:connect` carries the git state (read once, bounded).
  // A PTY agent has its terminal view loaded before it can get a command
  // (a failed import is reported by the first command that needs it).
  const viewReady = options.pty
    ? loadPtyView().then(() => {}, () => {})
    : undefined;
  if (options.reportGit) {
    void Promise.all([refreshGit(), viewReady]).then(connect);
  } else if (viewReady) void viewReady.then(connect);
  else connect();
  return {
    done,
    async stop() {
      await finish(EXIT_CODES.OK);
      await done;
    },
    sessionInput(data) {
      if (sessionId !== undefined) executor.input(sessionId, data);
    },
    sessionResize(cols, rows) {
      if (!options.pty) return;
      sessionSize.cols = cols;
      sessionSize.rows = rows;
      if (sessionId !== undefined) executor.resize(sessionId, cols, rows);
    },
  };
}
