/**
 * Runs the commands the server sends, one at a time, and owns everything the
 * server has not acknowledged yet: output chunks (in the outbox),
 * `command:started` and `command:completed`. Output is flow-controlled: it
 * goes out within the send window, and reading from the command pauses while
 * the unacknowledged output reaches the window, so the program blocks on its
 * pipe or terminal until acks free room; nothing is dropped. The connection
 * replays that state after every reconnect with {@link Executor.resend}.
 *
 * Prompts (commands of kind `prompt`, see {@link Executor.prompt}) are typed
 * into the running session when its screen says `waiting`, and end when it
 * is waiting again; they report where their turn starts and ends in the
 * session's output (`command:started.fromSeq`, `command:completed.toSeq`).
 *
 * @module
 */
import {
  type AgentPayloads,
  byteLength,
  type CommandInfo,
  type FromAgent,
  fromAgent,
  OUTPUT_WINDOW,
  type PayloadOf,
} from "../protocol.ts";
import { commandArgv } from "./argv.ts";
import type { Logger } from "./logger.ts";
import { BATCHING, OutputBatcher } from "./output_batcher.ts";
import { Outbox } from "./outbox.ts";
import { type PtyApi, startPtyProcess } from "./pty_runner.ts";
import { type RunningProcess, SpawnError, startProcess } from "./runner.ts";
import type { ActivityState } from "./activity.ts";
import { ActivityMerge } from "./activity_merge.ts";
import type { PtyView } from "./terminal_io.ts";
import { cleanPaste } from "../paste.ts";
import type { ActivityFlags } from "./session_flags.ts";
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
 * 0 when it did not go out. `utf8Extra`, when given, is how many more UTF-8
 * bytes than UTF-16 units the frame has (the caller counted them), so the
 * frame need not be scanned again; else the frame is counted.
 */
export type SendFn = (
  message: FromAgent<ExecutorMessageType>,
  utf8Extra?: number,
) => number;

/** PTY mode: node-pty (from `loadPty()`) and the terminal size. */
export interface PtySettings {
  api: PtyApi;
  cols: number;
  rows: number;
}

/** Bracketed paste: how a prompt is typed, followed by Enter (`\r`). */
export const PASTE_START = "\x1b[200~";
export const PASTE_END = "\x1b[201~";
/** Most ms between a prompt's paste and its Enter (sooner on the echo). */
export const PROMPT_ENTER_AFTER_MS = 300;
/**
 * A typed prompt whose screen never left `waiting` (a quick shell command)
 * ends after this many ms without output while the screen still waits.
 */
export const PROMPT_QUIET_MS = 1000;

/**
 * A prompt's text as pasted: line breaks as `\n`, tabs kept, every other
 * control character (ESC included, so no paste-end marker) removed, so the
 * text cannot leave the paste or act as keys.
 */
export function pasteText(text: string): string {
  return cleanPaste(text);
}

/** A prompt's progress in the session. */
interface Turn {
  /** held: not typed yet; typing: pasted, Enter pending; typed: submitted. */
  state: "held" | "typing" | "typed";
  /** The session's activity left `waiting` since it was submitted. */
  left: boolean;
  /** Interrupted with Ctrl-C: it ends `interrupted`. */
  interrupted: boolean;
  timer?: ReturnType<typeof setTimeout>;
  /** Ends the interrupted prompt if the screen never says waiting again. */
  graceTimer?: ReturnType<typeof setTimeout>;
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
  /**
   * Stall time and detector overrides for sessions and `--pty` commands
   * (passed to their {@link PtyView}'s tracker).
   */
  activity?: ActivityFlags;
  send: SendFn;
  logger: Logger;
  /**
   * Activity of `--pty` commands (see `activity.ts`, detector `exec`):
   * `working` when one starts, each change its screen shows while it runs,
   * `waiting` (idle, ready for the next command) when it ended. Sessions
   * report their screen's changes the same way while they run, and nothing
   * when they end. Called only when the state differs from the last one;
   * never in pipe mode.
   */
  onActivity?: (state: ActivityState) => void;
  /** A session's output, as its PTY produced it (the local terminal shows it). */
  onSessionOutput?: (commandId: string, text: string) => void;
  /** A session ended (its program exited, or it could not start). */
  onSessionEnd?: (completion: ExecutorPayloads["command:completed"]) => void;
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
  /** The size a session's PTY starts at (default the configured one). */
  size?: { cols: number; rows: number };
  /** Variables added to a session program's environment. */
  sessionEnv?: Record<string, string>;
  /** A session's screen verdicts combined with the program's own signals. */
  merge?: ActivityMerge;
  batcher: OutputBatcher;
  started?: ExecutorPayloads["command:started"];
  startedSent: boolean;
  process?: RunningProcess;
  /** Whether reading its output is paused (the window is full). */
  paused: boolean;
  /** Output so far, for the line logged when its completion is acked. */
  stats: { chunks: number; bytes: number; pauses: number };
  /** Its screen and activity (PTY mode). */
  view?: PtyView;
  /** When its screen goes out as `terminal:snapshot` (with `view`). */
  snapshots?: SnapshotScheduler;
  completion?: ExecutorPayloads["command:completed"];
  /** Sent on the current connection. */
  completionSent: boolean;
  /** Set for a prompt: typed into the session, never run as a process. */
  turn?: Turn;
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
    // A failed import is reported by the command that needs it (in #run).
    if (options.pty) loadPtyView().catch(() => {});
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

  /**
   * Queue `info` to run; a command id seen before is ignored, and so is
   * every command once {@link stop} was called (nothing new starts).
   */
  execute(info: CommandInfo): void {
    if (this.#stopping) return;
    if (info.kind === "prompt") return this.prompt(info);
    this.#enqueue(info);
  }

  /**
   * End `info` at once without running it: `command:started`, `why` as its
   * output (a `flightdeck-agent: ...` line), then `command:completed` with
   * status `failed` and no exit code. A command id seen before is ignored.
   */
  refuse(info: CommandInfo, why: string): void {
    if (this.#jobs.has(info.id)) return;
    const job = this.#newJob(info);
    this.#jobs.set(info.id, job);
    this.#options.logger.warn(`refused ${info.id}: ${why}`);
    job.started = { commandId: info.id, startedAt: Date.now() };
    job.startedSent = false;
    job.batcher.pushText(
      this.#options.pty ? "pty" : "stderr",
      `flightdeck-agent: ${why}\r\n`,
    );
    this.#complete(job, "failed", null);
  }

  /**
   * A prompt for the running session (kind `prompt`): held until the
   * session's screen says `waiting` (never typed while the program works or
   * asks), then typed as a bracketed paste and Enter; `command:started`
   * carries `fromSeq`, the session seq its turn starts at. It ends
   * `completed` with `toSeq` when the screen is waiting again after leaving
   * `waiting` (or, if it never left, after {@link PROMPT_QUIET_MS} without
   * output). Without a running session it ends `interrupted`, untyped. A
   * command id seen before is ignored.
   */
  prompt(info: CommandInfo): void {
    if (this.#jobs.has(info.id)) return;
    const job: Job = {
      info,
      startedSent: false,
      paused: false,
      stats: { chunks: 0, bytes: 0, pauses: 0 },
      completionSent: false,
      batcher: new OutputBatcher({ onChunk: () => {} }),
      turn: { state: "held", left: false, interrupted: false },
    };
    this.#jobs.set(info.id, job);
    if (!this.#session()) {
      this.#options.logger.warn(`prompt ${info.id}: no session runs`);
      return this.#endTurn(job, "interrupted", null);
    }
    this.#typeNext();
  }

  /**
   * Forget prompts not typed yet, before `agent:connect`: the server puts
   * them back in its queue (they are not in `running`) and sends them again.
   */
  releaseHeldPrompts(): void {
    for (const job of [...this.#jobs.values()]) {
      if (job.turn?.state === "held" && !job.completion) {
        this.#jobs.delete(job.info.id);
      }
    }
  }

  #enqueue(
    info: CommandInfo,
    sessionArgv?: string[],
    size?: { cols: number; rows: number },
    sessionEnv?: Record<string, string>,
  ): void {
    if (this.#stopping || this.#jobs.has(info.id)) return;
    const job = this.#newJob(info, sessionArgv, size, sessionEnv);
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

  /** A job for `info` whose output goes to the outbox (and its screen). */
  #newJob(
    info: CommandInfo,
    sessionArgv?: string[],
    size?: { cols: number; rows: number },
    sessionEnv?: Record<string, string>,
  ): Job {
    const job: Job = {
      info,
      sessionArgv,
      size,
      sessionEnv,
      startedSent: false,
      paused: false,
      stats: { chunks: 0, bytes: 0, pauses: 0 },
      completionSent: false,
      batcher: new OutputBatcher({
        maxFrameBytes: this.#frameBytes(),
        onChunk: (chunk, bytes) => {
          this.#outbox.add({ commandId: info.id, ...chunk }, bytes);
          job.stats.chunks++;
          job.stats.bytes += chunk.data.length;
          // The screen takes output chunk by chunk, so a snapshot covers
          // exactly the chunks up to its seq.
          if (job.view) {
            job.merge?.drawn(chunk.data.length);
            job.view.write(chunk.data, chunk.seq);
            job.snapshots?.changed();
          }
          this.#flush();
          this.#applyFlow();
        },
      }),
    };
    return job;
  }

  /**
   * Run `argv` once as session `info` (a command of kind `session`, see
   * `session:started`) in a pseudo-terminal: output goes out like any
   * command's, activity is read with the agent type's detector, terminal
   * query answers go back into the PTY, and the exit ends it with
   * `command:completed`. Needs PTY settings; a command id seen before is
   * ignored, and so is any once {@link stop} was called. Its PTY starts at
   * `size` (a restarted session keeps the last one's), else at the
   * configured size, and `command:started` reports the size it started at;
   * `env` is added to the program's environment.
   */
  startSession(
    info: CommandInfo,
    argv: string[],
    size?: { cols: number; rows: number },
    env?: Record<string, string>,
  ): void {
    this.#enqueue(info, argv, size, env);
  }

  /**
   * A precise activity signal from the running session's program (Claude
   * Code's hooks): combined with what its screen shows (see
   * `activity_merge.ts`) and reported. Ignored when no session runs.
   */
  sessionSignal(state: ActivityState): void {
    const job = this.#current;
    if (!job?.merge || !job.process || job.completion) return;
    job.merge.hook(state);
  }

  /** Whether a session was started here and has not ended. */
  get sessionLive(): boolean {
    for (const job of this.#jobs.values()) {
      if (job.sessionArgv && !job.completion) return true;
    }
    return false;
  }

  /**
   * Interrupt the running command `commandId`; unknown ids are ignored. A
   * typed prompt gets Ctrl-C in its session and ends `interrupted` when the
   * session waits again (at the latest after `graceMs`); a held one ends at
   * once, untyped.
   */
  interrupt(commandId: string, reason?: string, graceMs?: number): void {
    const job = this.#jobs.get(commandId);
    if (!job || job.completion) return;
    if (job.turn) return this.#interruptTurn(job, graceMs);
    if (!job.process) {
      // Still queued here: never start it.
      this.#queue = this.#queue.filter((queued) => queued !== job);
      job.started = { commandId, startedAt: Date.now() };
      this.#complete(
        job,
        reason === "timeout" ? "timeout" : "interrupted",
        null,
        { reason },
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
   * each reconnect); none once a session ended.
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
      const dropped = this.#outbox.forget(commandId);
      this.#jobs.delete(commandId);
      const { chunks, bytes, pauses } = job.stats;
      // Read by `deno task bench` (figure agent_buffer_drops). A prompt's
      // output is its session's: it has no line of its own.
      if (!job.turn) {
        this.#options.logger.info(
          `output of ${commandId}: ${chunks} chunks, ${bytes} characters; ` +
            `reading paused ${pauses} times (window full); ` +
            `${dropped} chunks dropped unacknowledged`,
        );
      }
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
      job.batcher.maxFrameBytes = this.#frameBytes();
      job.completionSent = false;
      // A prompt's start carries its fromSeq: say it again.
      if (job.turn && !job.completion) job.startedSent = false;
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
    /** The sessions' output so far went out (prompts end after it). */
    let sessionsSent = true;
    for (const job of this.#jobs.values()) {
      if (job.turn) {
        this.#flushTurn(job, sessionsSent);
        continue;
      }
      if (!job.started) continue;
      if (!job.startedSent) {
        job.startedSent = send(fromAgent("command:started", job.started)) > 0;
        if (!job.startedSent) continue;
      }
      const id = job.info.id;
      const allSent = this.#outbox.sendUnsent(
        id,
        // Only `data` and the command id can hold characters beyond ASCII
        // (JSON.stringify leaves them as they are); their UTF-8 bytes are
        // known, so the frame is not scanned again.
        (chunk, bytes) =>
          send(
            fromAgent("terminal:output", chunk),
            bytes - chunk.data.length + byteLength(id) - id.length,
          ),
      );
      if (allSent && job.completion && !job.completionSent) {
        job.completionSent =
          send(fromAgent("command:completed", job.completion)) > 0;
      }
      // Prompts end after their session's output, and after its end (so
      // the server never sends the next prompt to a session that ended).
      if (
        job.sessionArgv && (!allSent || (job.completion && !job.completionSent))
      ) {
        sessionsSent = false;
      }
    }
  }

  /** A prompt's `command:started` (if typed), then its completion. */
  #flushTurn(job: Job, sessionsSent: boolean): void {
    const { send } = this.#options;
    if (job.started && !job.startedSent) {
      job.startedSent = send(fromAgent("command:started", job.started)) > 0;
      if (!job.startedSent) return;
    }
    if (job.completion && !job.completionSent && sessionsSent) {
      job.completionSent =
        send(fromAgent("command:completed", job.completion)) > 0;
    }
  }

  /** The running session's job, if a session runs here. */
  #session(): Job | undefined {
    for (const job of this.#jobs.values()) {
      if (job.sessionArgv && job.process && !job.completion) return job;
    }
  }

  /** The prompt typed or being typed, not ended. */
  #typedTurn(): Job | undefined {
    for (const job of this.#jobs.values()) {
      if (job.turn && job.turn.state !== "held" && !job.completion) return job;
    }
  }

  /**
   * Type the first held prompt if no prompt is typed and the session's
   * activity (its screen, combined with the program's own signals when it
   * gives any) says `waiting` now.
   */
  #typeNext(): void {
    const session = this.#session();
    if (!session?.view) return;
    const now = session.merge?.state ?? session.view.state;
    if (now.activity !== "waiting") return;
    if (this.#typedTurn()) return;
    const job = [...this.#jobs.values()].find((j) =>
      j.turn?.state === "held" && !j.completion
    );
    if (!job) return;
    const turn = job.turn!;
    // Everything printed before it is out: its turn starts at the next seq.
    session.batcher.flush();
    const fromSeq = session.batcher.lastSeq + 1;
    turn.state = "typing";
    session.process!.write?.(
      `${PASTE_START}${pasteText(job.info.command)}${PASTE_END}`,
    );
    job.started = { commandId: job.info.id, startedAt: Date.now(), fromSeq };
    job.startedSent = false;
    this.#options.logger.info(`prompt ${job.info.id} typed (seq ${fromSeq})`);
    // Enter once the program echoed the paste (see #sessionOutput), or soon.
    turn.timer = setTimeout(() => this.#submit(job), PROMPT_ENTER_AFTER_MS);
    this.#flush();
  }

  /** Press Enter for a pasted prompt. */
  #submit(job: Job): void {
    const turn = job.turn!;
    if (turn.state !== "typing" || job.completion) return;
    clearTimeout(turn.timer);
    turn.timer = undefined;
    turn.state = "typed";
    turn.left = false;
    this.#session()?.process?.write?.("\r");
  }

  /** The session printed something: the typed prompt's turn goes on. */
  #sessionOutput(): void {
    const job = this.#typedTurn();
    const turn = job?.turn;
    if (!job || !turn) return;
    if (turn.state === "typing") return this.#submit(job);
    if (turn.left) return;
    // Never left waiting (yet): end it once the output stops and the
    // screen still waits.
    clearTimeout(turn.timer);
    turn.timer = setTimeout(() => {
      turn.timer = undefined;
      const session = this.#session();
      if (!turn.left && session?.view?.state.activity === "waiting") {
        this.#endTurn(job, turn.interrupted ? "interrupted" : "completed", 0);
      }
    }, PROMPT_QUIET_MS);
  }

  /** The session's activity changed: end the typed turn, or type the next. */
  #sessionActivity(state: ActivityState): void {
    const job = this.#typedTurn();
    const turn = job?.turn;
    if (job && turn && turn.state === "typed") {
      if (state.activity !== "waiting") turn.left = true;
      else if (turn.left) {
        this.#endTurn(job, turn.interrupted ? "interrupted" : "completed", 0);
      }
    }
    if (state.activity === "waiting") this.#typeNext();
  }

  #interruptTurn(job: Job, graceMs?: number): void {
    const turn = job.turn!;
    if (turn.state === "held") return this.#endTurn(job, "interrupted", null);
    if (turn.interrupted) return;
    turn.interrupted = true;
    if (turn.state === "typing") {
      // Pasted, not submitted: no Enter; the Ctrl-C clears the input.
      clearTimeout(turn.timer);
      turn.timer = undefined;
      turn.state = "typed";
      turn.left = false;
    }
    this.#options.logger.info(`interrupting prompt ${job.info.id} (Ctrl-C)`);
    this.#session()?.process?.write?.("\x03");
    turn.graceTimer = setTimeout(
      () => this.#endTurn(job, "interrupted", null),
      graceMs ?? this.#options.graceMs,
    );
  }

  /**
   * End prompt `job` with `status`; a typed one records `toSeq`, the last
   * session seq of its turn.
   */
  #endTurn(
    job: Job,
    status: FinalStatus,
    exitCode: number | null,
    session = this.#sessionJob(),
  ): void {
    const turn = job.turn!;
    if (job.completion) return;
    clearTimeout(turn.timer);
    clearTimeout(turn.graceTimer);
    let toSeq: number | undefined;
    if (job.started && session) {
      session.batcher.flush();
      toSeq = session.batcher.lastSeq;
    }
    if (status === "interrupted" || status === "timeout") exitCode = null;
    job.completion = {
      commandId: job.info.id,
      exitCode,
      status,
      completedAt: Math.max(Date.now(), job.started?.startedAt ?? 0),
      lastSeq: 0,
      ...(toSeq === undefined ? {} : { toSeq }),
    };
    this.#options.logger.info(`prompt ${job.info.id} ${status}`);
    this.#flush();
    // The next one may go at once (the screen already waits).
    if (this.#session()) queueMicrotask(() => this.#typeNext());
  }

  /** The session's job (running or ended, not yet forgotten). */
  #sessionJob(): Job | undefined {
    for (const job of this.#jobs.values()) {
      if (job.sessionArgv) return job;
    }
  }

  /**
   * Largest output chunk for the window now: a quarter of it, so several
   * frames are in flight at once (an ack comes back while the next ones go
   * out), within the batcher's default sizes.
   */
  #frameBytes(): number {
    return Math.min(
      BATCHING.maxFrameBytes,
      Math.max(
        BATCHING.minFrameBytes,
        Math.floor(this.#outbox.windowBytes / 4),
      ),
    );
  }

  /** Pause reading the running command while the outbox is full. */
  #applyFlow(): void {
    const job = this.#current;
    if (!job?.process) return;
    const pause = this.#outbox.full && !this.#stopping;
    if (pause === job.paused) return;
    job.paused = pause;
    if (pause) job.stats.pauses++;
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
      job.started = {
        commandId: info.id,
        startedAt: Date.now(),
        // The terminal's size at start (a session's own start size), kept
        // for the command's recording.
        ...(pty
          ? {
            cols: job.size?.cols ?? pty.cols,
            rows: job.size?.rows ?? pty.rows,
          }
          : {}),
      };
      job.startedSent = false;
      this.#flush();
    };
    const session = job.sessionArgv !== undefined;
    const report = (state: ActivityState) =>
      job.merge ? job.merge.screen(state) : this.#reportActivity(state);
    const view = pty && (this.#options.onActivity || session)
      ? new (ptyViewClass ?? await loadPtyView())({
        cols: job.size?.cols ?? pty.cols,
        rows: job.size?.rows ?? pty.rows,
        // A session is read with its program's detector (claude, shell...).
        type: session ? this.#options.type : "exec",
        tracker: this.#options.activity,
        onChange: report,
        // The program waits for these answers (e.g. Codex asks where the
        // cursor is): write them back into its terminal.
        ...(session ? { onReply: (data) => job.process?.write?.(data) } : {}),
      })
      : undefined;
    job.view = view;
    if (view && session) {
      job.merge = new ActivityMerge(
        view.state,
        (state) => this.#reportActivity(state),
      );
    }
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
    if (view) report(view.state);
    try {
      if (session && !pty) throw new SpawnError("a session needs a PTY");
      const argv = job.sessionArgv ?? this.#argv(info.command);
      job.process = pty
        ? startPtyProcess({
          pty: pty.api,
          argv,
          cwd,
          cols: job.size?.cols ?? pty.cols,
          rows: job.size?.rows ?? pty.rows,
          graceMs,
          onOutput: (text) => {
            batcher.pushText("pty", text);
            job.merge?.output(text.length);
            if (session) this.#sessionOutput();
            if (session) this.#options.onSessionOutput?.(info.id, text);
          },
          ...(job.sessionEnv ? { env: job.sessionEnv } : {}),
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
    const signal = result.signal ?? undefined;
    if (result.interrupted) {
      const status = result.reason === "timeout" ? "timeout" : "interrupted";
      this.#complete(job, status, null, { signal, reason: result.reason });
    } else {
      this.#complete(
        job,
        result.code === 0 ? "completed" : "failed",
        result.code,
        { signal },
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
    // Not once the session ended (its view is gone): #complete ends prompts.
    if (this.#current?.sessionArgv && this.#current.view) {
      this.#sessionActivity(state);
    }
  }

  /**
   * Report `job` ended with `status`; `end.signal` is the signal its
   * process died of, `end.reason` why it was interrupted (the server
   * uses it when it did not ask for the interrupt itself).
   */
  #complete(
    job: Job,
    status: FinalStatus,
    exitCode: number | null,
    end: { signal?: string; reason?: string } = {},
  ): void {
    job.merge = undefined;
    job.snapshots?.dispose();
    job.snapshots = undefined;
    if (job.view) {
      job.view.dispose();
      job.view = undefined;
      if (job.sessionArgv) {
        // No program runs to be waiting: report nothing (and send nothing
        // again after a reconnect); the server clears the agent's activity
        // and shows how the session ended (`AgentInfo.ended`).
        this.#activity = undefined;
      } else {
        this.#reportActivity({
          activity: "waiting",
          attention: null,
          options: [],
        });
      }
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
      ...(end.signal ? { signal: end.signal } : {}),
      ...(end.reason && status === "interrupted"
        ? { reason: end.reason.slice(0, 1024) }
        : {}),
    };
    this.#options.logger.info(
      `${job.info.id} ${status}${
        exitCode === null ? "" : ` (exit ${exitCode})`
      }`,
    );
    if (job.sessionArgv) {
      // The session ended: so did its prompts. A typed one's turn ended with
      // the program (its status follows the exit); held ones were never typed.
      for (const turn of [...this.#jobs.values()]) {
        if (!turn.turn || turn.completion) continue;
        if (turn.turn.state === "held") {
          this.#endTurn(turn, "interrupted", null, job);
        } else {
          this.#endTurn(
            turn,
            turn.turn.interrupted || status === "interrupted" ||
              status === "timeout"
              ? "interrupted"
              : status === "completed"
              ? "completed"
              : "failed",
            exitCode,
            job,
          );
        }
      }
    }
    this.#flush();
    if (job.sessionArgv) this.#options.onSessionEnd?.(job.completion);
  }
}

/** {@link PtyView} once imported (see {@link loadPtyView}). */
let ptyViewClass: typeof PtyView | undefined;

/**
 * Import {@link PtyView} (and with it the headless terminal: about 5 MiB of
 * resident memory measured). Only `--pty` and `--session` agents need it: the agent
 * connection awaits this before it dials, and the executor starts it when
 * constructed with a PTY, so that a command's view is made synchronously
 * when the command starts (nothing, e.g. typed input, falls between its
 * start and its process). An agent on pipes never loads it.
 */
export async function loadPtyView(): Promise<typeof PtyView> {
  ptyViewClass ??= (await import("./terminal_io.ts")).PtyView;
  return ptyViewClass;
}
