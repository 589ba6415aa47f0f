/**
 * Runs the commands the server sends, one at a time, and owns everything the
 * server has not acknowledged yet: output chunks (in the outbox),
 * `command:started` and `command:completed`. Output is flow-controlled: it
 * goes out within the send window, and reading from the command pauses while
 * the unacknowledged output reaches the window, so the program blocks on its
 * pipe or terminal until acks free room; nothing is dropped. The connection
 * replays that state after every reconnect with {@link Executor.resend}.
 *
 * @module
 */
import {
  type AgentPayloads,
  type CommandInfo,
  type FromAgent,
  fromAgent,
  OUTPUT_WINDOW,
  type PayloadOf,
} from "../protocol.ts";
import { commandArgv } from "./argv.ts";
import type { Logger } from "./logger.ts";
import { OutputBatcher } from "./output_batcher.ts";
import { Outbox } from "./outbox.ts";
import { type PtyApi, startPtyProcess } from "./pty_runner.ts";
import { type RunningProcess, SpawnError, startProcess } from "./runner.ts";
import type { ActivityState } from "./activity.ts";
import { PtyView } from "./terminal_io.ts";
import {
  type SchedulerTimers,
  SnapshotScheduler,
} from "./snapshot_scheduler.ts";

/** Final status the agent reports. */
export type FinalStatus = PayloadOf<
  typeof AgentPayloads,
  "command:completed"
>["status"];

/** Agent → server messages the executor produces. */
export type ExecutorMessageType =
  | "command:started"
  | "terminal:output"
  | "command:completed"
  | "terminal:snapshot";

/** Payloads of the messages the executor produces, by type. */
export type ExecutorPayloads = {
  [K in ExecutorMessageType]: PayloadOf<typeof AgentPayloads, K>;
};

/**
 * Sends a message if connected; returns the frame's size in UTF-8 bytes, or
 * 0 when it did not go out.
 */
export type SendFn = (message: FromAgent<ExecutorMessageType>) => number;

/** PTY mode: node-pty (from `loadPty()`) and the terminal size. */
export interface PtySettings {
  api: PtyApi;
  cols: number;
  rows: number;
}

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  /** Agent type: `shell` runs `bash -lc`, others a one-shot template. */
  type: string;
  cwd: string;
  graceMs: number;
  /**
   * Most unacknowledged output held: the window is the smaller of this and
   * the server's (`setWindow`), default window until a server names one.
   */
  maxBufferBytes: number;
  /** argv prefix per non-shell type; the prompt follows (see `argv.ts`). */
  templates: Record<string, string[]>;
  /** Run each command in a pseudo-terminal (`stream: "pty"`); default pipes. */
  pty?: PtySettings;
  send: SendFn;
  logger: Logger;
  /**
   * Activity of `--pty` commands (see `activity.ts`, detector `exec`):
   * `working` when one starts, each change its screen shows while it runs,
   * `waiting` (idle, ready for the next command) when it ended. Called only
   * when the state differs from the last one; never in pipe mode.
   */
  onActivity?: (state: ActivityState) => void;
  /**
   * Timing of `terminal:snapshot` for terminals with a screen (see
   * snapshot_scheduler.ts); defaults there.
   */
  snapshots?: {
    intervalMs?: number;
    settleMs?: number;
    timers?: SchedulerTimers;
  };
}

interface Job {
  info: CommandInfo;
  /** A session's program (`startSession`); exec commands build theirs. */
  sessionArgv?: string[];
  batcher: OutputBatcher;
  started?: ExecutorPayloads["command:started"];
  startedSent: boolean;
  process?: RunningProcess;
  /** Whether reading its output is paused (the window is full). */
  paused: boolean;
  /** Its screen and activity (PTY mode). */
  view?: PtyView;
  /** When its screen goes out as `terminal:snapshot` (with `view`). */
  snapshots?: SnapshotScheduler;
  completion?: ExecutorPayloads["command:completed"];
  /** Sent on the current connection. */
  completionSent: boolean;
}

/** Executes commands and tracks what the server still has to acknowledge. */
export class Executor {
  #options: ExecutorOptions;
  #outbox: Outbox;
  #jobs = new Map<string, Job>();
  #queue: Job[] = [];
  #current: Job | undefined;
  #idle = Promise.resolve();
  #stopping = false;
  #activity: ActivityState | undefined;

  constructor(options: ExecutorOptions) {
    this.#options = options;
    this.#outbox = new Outbox(
      Math.min(OUTPUT_WINDOW.defaultBytes, options.maxBufferBytes),
    );
  }

  /** The send window in bytes now. */
  get windowBytes(): number {
    return this.#outbox.windowBytes;
  }

  /** Output held and not acknowledged (UTF-8 bytes of `data`). */
  get heldBytes(): number {
    return this.#outbox.bytes;
  }

  /** Commands running or not fully acked, for `agent:connect.running`. */
  running(): { commandId: string; lastSeq: number }[] {
    return [...this.#jobs.values()]
      .filter((job) => job.started)
      .map((job) => ({ commandId: job.info.id, lastSeq: job.batcher.lastSeq }))
      .slice(-64);
  }

  /** Id of the command running now, if any. */
  get currentCommandId(): string | undefined {
    return this.#current?.info.id;
  }

  /** Resolves when no command is running or queued. */
  idle(): Promise<void> {
    return this.#idle;
  }

  /** Queue `info` to run; a command id seen before is ignored. */
  execute(info: CommandInfo): void {
    this.#enqueue(info);
  }

  #enqueue(info: CommandInfo, sessionArgv?: string[]): void {
    if (this.#jobs.has(info.id)) return;
    const job: Job = {
      info,
      sessionArgv,
      startedSent: false,
      paused: false,
      completionSent: false,
      batcher: new OutputBatcher({
        onChunk: (chunk) => {
          this.#outbox.add({ commandId: info.id, ...chunk });
          // The screen takes output chunk by chunk, so a snapshot covers
          // exactly the chunks up to its seq.
          if (job.view) {
            job.view.write(chunk.data, chunk.seq);
            job.snapshots?.changed();
          }
          this.#flush();
          this.#applyFlow();
        },
      }),
    };
    this.#jobs.set(info.id, job);
    this.#queue.push(job);
    if (this.#current) {
      this.#options.logger.warn(
        `command ${info.id} queued behind ${this.#current.info.id}`,
      );
    } else {
      this.#idle = this.#drain();
    }
  }

  /**
   * Run `argv` once as session `info` (a command of kind `session`, see
   * `session:started`) in a pseudo-terminal: output goes out like any
   * command's, activity is read with the agent type's detector, terminal
   * query answers go back into the PTY, and the exit ends it with
   * `command:completed`. Needs PTY settings; a command id seen before is
   * ignored.
   */
  startSession(info: CommandInfo, argv: string[]): void {
    this.#enqueue(info, argv);
  }

  /** Whether a session was started here and has not ended. */
  get sessionLive(): boolean {
    for (const job of this.#jobs.values()) {
      if (job.sessionArgv && !job.completion) return true;
    }
    return false;
  }

  /** Interrupt the running command `commandId`; unknown ids are ignored. */
  interrupt(commandId: string, reason?: string, graceMs?: number): void {
    const job = this.#jobs.get(commandId);
    if (!job || job.completion) return;
    if (!job.process) {
      // Still queued here: never start it.
      this.#queue = this.#queue.filter((queued) => queued !== job);
      job.started = { commandId, startedAt: Date.now() };
      this.#complete(
        job,
        reason === "timeout" ? "timeout" : "interrupted",
        null,
      );
      return;
    }
    this.#options.logger.info(
      `interrupting ${commandId}${reason ? ` (${reason})` : ""}`,
    );
    job.process.interrupt({ reason, graceMs });
  }

  /**
   * The last activity reported through `onActivity`, if any (sent again after
   * each reconnect).
   */
  get activity(): ActivityState | undefined {
    return this.#activity;
  }

  /**
   * `terminal:input`: type `data` into the terminal of running command
   * `commandId`. Ignored for an unknown, queued or finished command and in
   * pipe mode (commands run with stdin closed).
   */
  input(commandId: string, data: string): void {
    const job = this.#jobs.get(commandId);
    if (!job?.process || job.completion) return;
    job.process.write?.(data);
  }

  /**
   * `terminal:resize`: resize the terminal of running command `commandId`
   * (the program gets SIGWINCH); ignored like {@link input}. Later commands
   * start at the configured size again.
   */
  resize(commandId: string, cols: number, rows: number): void {
    const job = this.#jobs.get(commandId);
    if (!job?.process?.resize || job.completion) return;
    job.process.resize(cols, rows);
    job.view?.resize(cols, rows);
  }

  /**
   * Apply a `terminal:ack`: free output, send more within the window, read
   * again when under it; forget the command once its completion is acked.
   */
  ack(commandId: string, seq: number, completed?: boolean): void {
    this.#outbox.ack(commandId, seq);
    const job = this.#jobs.get(commandId);
    job?.snapshots?.acked(seq);
    if (completed && job?.completion) {
      this.#outbox.forget(commandId);
      this.#jobs.delete(commandId);
    }
    this.#flush();
    this.#applyFlow();
  }

  /**
   * A new connection is acknowledged: use its window (the server's
   * `connection:ack.outputWindowBytes`, capped by `maxBufferBytes`; the
   * current one when absent), count nothing sent before as in flight, and
   * send again everything unacknowledged, in order, within the window.
   */
  resend(serverWindowBytes?: number): void {
    if (serverWindowBytes !== undefined) {
      this.#outbox.windowBytes = Math.min(
        serverWindowBytes,
        this.#options.maxBufferBytes,
      );
    }
    this.#outbox.resetSent();
    for (const job of this.#jobs.values()) {
      job.completionSent = false;
      job.snapshots?.reconnected();
    }
    this.#flush();
    this.#applyFlow();
  }

  /**
   * Interrupt whatever runs, drop the queue, wait until nothing runs. Output
   * is read to its end from now on (held, not sent past the window), so a
   * paused command cannot keep the agent from stopping.
   */
  async stop(reason = "agent stopping"): Promise<void> {
    this.#stopping = true;
    this.#applyFlow();
    for (const job of [...this.#queue]) this.interrupt(job.info.id, reason);
    if (this.#current) this.interrupt(this.#current.info.id, reason);
    await this.#idle;
  }

  /**
   * Send what may go out, per command in order: `command:started`, its
   * output chunks while the window allows, then `command:completed`.
   */
  #flush(): void {
    const { send } = this.#options;
    for (const job of this.#jobs.values()) {
      if (!job.started) continue;
      if (!job.startedSent) {
        job.startedSent = send(fromAgent("command:started", job.started)) > 0;
        if (!job.startedSent) continue;
      }
      const id = job.info.id;
      const allSent = this.#outbox.sendUnsent(
        id,
        (chunk) => send(fromAgent("terminal:output", chunk)),
      );
      if (allSent && job.completion && !job.completionSent) {
        job.completionSent =
          send(fromAgent("command:completed", job.completion)) > 0;
      }
    }
  }

  /** Pause reading the running command while the outbox is full. */
  #applyFlow(): void {
    const job = this.#current;
    if (!job?.process) return;
    const pause = this.#outbox.full && !this.#stopping;
    if (pause === job.paused) return;
    job.paused = pause;
    if (pause) job.process.pause();
    else job.process.resume();
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#current = job;
      try {
        await this.#run(job);
      } catch (error) {
        this.#options.logger.error(`command ${job.info.id} failed: ${error}`);
      }
      this.#current = undefined;
    }
  }

  #argv(prompt: string): string[] {
    const { type, templates } = this.#options;
    return commandArgv(type, templates[type] ?? [type], prompt);
  }

  async #run(job: Job): Promise<void> {
    const { info, batcher } = job;
    const { cwd, graceMs, pty } = this.#options;
    const markStarted = () => {
      job.started = { commandId: info.id, startedAt: Date.now() };
      job.startedSent = false;
      this.#flush();
    };
    const session = job.sessionArgv !== undefined;
    const view = pty && (this.#options.onActivity || session)
      ? new PtyView({
        cols: pty.cols,
        rows: pty.rows,
        // A session is read with its program's detector (claude, shell...).
        type: session ? this.#options.type : "exec",
        onChange: (state) => this.#reportActivity(state),
        // The program waits for these answers (e.g. Codex asks where the
        // cursor is): write them back into its terminal.
        ...(session ? { onReply: (data) => job.process?.write?.(data) } : {}),
      })
      : undefined;
    job.view = view;
    if (view) {
      job.snapshots = new SnapshotScheduler({
        ...this.#options.snapshots,
        take: () => view.snapshot(),
        send: (snapshot) =>
          this.#options.send(
            fromAgent("terminal:snapshot", { commandId: info.id, ...snapshot }),
          ) > 0,
      });
    }
    // The tracker starts at `working` without a report: say it here.
    if (view) this.#reportActivity(view.state);
    try {
      if (session && !pty) throw new SpawnError("a session needs a PTY");
      const argv = job.sessionArgv ?? this.#argv(info.command);
      job.process = pty
        ? startPtyProcess({
          pty: pty.api,
          argv,
          cwd,
          cols: pty.cols,
          rows: pty.rows,
          graceMs,
          onOutput: (text) => batcher.pushText("pty", text),
        })
        : startProcess({
          argv,
          cwd,
          graceMs,
          onOutput: (stream, bytes) => batcher.push(stream, bytes),
        });
    } catch (error) {
      if (!(error instanceof SpawnError)) throw error;
      // Report through the normal path so the server sees running → failed.
      markStarted();
      batcher.pushText(
        pty ? "pty" : "stderr",
        `flightdeck-agent: ${error.message}\r\n`,
      );
      this.#complete(job, "failed", 127);
      return;
    }
    markStarted();
    this.#applyFlow();
    this.#options.logger.info(`running ${info.id} (pid ${job.process.pid})`);
    const result = await job.process.done;
    if (result.interrupted) {
      const status = result.reason === "timeout" ? "timeout" : "interrupted";
      this.#complete(job, status, null);
    } else {
      this.#complete(
        job,
        result.code === 0 ? "completed" : "failed",
        result.code,
      );
    }
  }

  /** Report `state` unless it is the one reported last. */
  #reportActivity(state: ActivityState): void {
    const last = this.#activity;
    if (
      last && last.activity === state.activity &&
      last.attention === state.attention &&
      JSON.stringify(last.options) === JSON.stringify(state.options)
    ) return;
    this.#activity = state;
    this.#options.onActivity?.(state);
  }

  #complete(job: Job, status: FinalStatus, exitCode: number | null): void {
    job.snapshots?.dispose();
    job.snapshots = undefined;
    if (job.view) {
      job.view.dispose();
      job.view = undefined;
      this.#reportActivity({
        activity: "waiting",
        attention: null,
        options: [],
      });
    }
    job.batcher.end("stdout");
    job.batcher.end("stderr");
    job.batcher.end("pty");
    job.batcher.flush();
    const startedAt = job.started?.startedAt ?? 0;
    job.completion = {
      commandId: job.info.id,
      exitCode,
      status,
      completedAt: Math.max(Date.now(), startedAt),
      lastSeq: job.batcher.lastSeq,
    };
    this.#options.logger.info(
      `${job.info.id} ${status}${
        exitCode === null ? "" : ` (exit ${exitCode})`
      }`,
    );
    this.#flush();
  }
}
