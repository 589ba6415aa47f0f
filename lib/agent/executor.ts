/**
 * Runs the commands the server sends, one at a time, and owns everything the
 * server has not acknowledged yet: output chunks (in a bounded outbox),
 * `command:started` and `command:completed`. The connection replays that
 * state after every reconnect with {@link Executor.resend}.
 *
 * @module
 */
import type { CommandInfo } from "../protocol.ts";
import type { Logger } from "./logger.ts";
import { OutputBatcher, type OutputStream } from "./output_batcher.ts";
import { Outbox } from "./outbox.ts";
import { type PtyApi, startPtyProcess } from "./pty_runner.ts";
import { type RunningProcess, SpawnError, startProcess } from "./runner.ts";

/** Final status the agent reports. */
export type FinalStatus = "completed" | "failed" | "interrupted" | "timeout";

/** Agent → server messages the executor produces, by type. */
export interface ExecutorPayloads {
  "command:started": { commandId: string; startedAt: number };
  "terminal:output": {
    commandId: string;
    seq: number;
    stream: OutputStream;
    data: string;
  };
  "command:completed": {
    commandId: string;
    exitCode: number | null;
    status: FinalStatus;
    completedAt: number;
    lastSeq: number;
  };
}

/** Sends a message if connected; returns whether it went out. */
export type SendFn = <K extends keyof ExecutorPayloads>(
  type: K,
  payload: ExecutorPayloads[K],
) => boolean;

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
  maxBufferBytes: number;
  /** argv prefix per non-shell type; the prompt is appended as one element. */
  templates: Record<string, string[]>;
  /** Run each command in a pseudo-terminal (`stream: "pty"`); default pipes. */
  pty?: PtySettings;
  send: SendFn;
  logger: Logger;
}

interface Job {
  info: CommandInfo;
  batcher: OutputBatcher;
  started?: ExecutorPayloads["command:started"];
  startedSent: boolean;
  process?: RunningProcess;
  completion?: ExecutorPayloads["command:completed"];
}

/** Executes commands and tracks what the server still has to acknowledge. */
export class Executor {
  #options: ExecutorOptions;
  #outbox: Outbox;
  #jobs = new Map<string, Job>();
  #queue: Job[] = [];
  #current: Job | undefined;
  #idle = Promise.resolve();

  constructor(options: ExecutorOptions) {
    this.#options = options;
    this.#outbox = new Outbox(options.maxBufferBytes);
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
    if (this.#jobs.has(info.id)) return;
    const job: Job = {
      info,
      startedSent: false,
      batcher: new OutputBatcher({
        onChunk: (chunk) => {
          const payload = { commandId: info.id, ...chunk };
          for (const gap of this.#outbox.add(payload)) {
            this.#options.logger.warn(
              `output buffer over ${this.#options.maxBufferBytes} bytes: ` +
                `dropped chunks ${gap.fromSeq}-${gap.toSeq} of ${gap.commandId}`,
            );
          }
          this.#options.send("terminal:output", payload);
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

  /** Apply a `terminal:ack`: free output; forget the command once completed. */
  ack(commandId: string, seq: number, completed?: boolean): void {
    this.#outbox.ack(commandId, seq);
    const job = this.#jobs.get(commandId);
    if (completed && job?.completion) {
      this.#outbox.forget(commandId);
      this.#jobs.delete(commandId);
    }
  }

  /** Send again everything unacknowledged, in order (after a reconnect). */
  resend(): void {
    const { send } = this.#options;
    for (const job of this.#jobs.values()) {
      if (job.started && !job.startedSent) {
        job.startedSent = send("command:started", job.started);
      }
    }
    for (const chunk of this.#outbox.unacked()) send("terminal:output", chunk);
    for (const job of this.#jobs.values()) {
      if (job.completion) send("command:completed", job.completion);
    }
  }

  /** Interrupt whatever runs, drop the queue, wait until nothing runs. */
  async stop(reason = "agent stopping"): Promise<void> {
    for (const job of [...this.#queue]) this.interrupt(job.info.id, reason);
    if (this.#current) this.interrupt(this.#current.info.id, reason);
    await this.#idle;
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
    if (type === "shell") return ["bash", "-lc", prompt];
    return [...(templates[type] ?? [type]), prompt];
  }

  async #run(job: Job): Promise<void> {
    const { info, batcher } = job;
    const { cwd, graceMs, pty, send } = this.#options;
    const markStarted = () => {
      job.started = { commandId: info.id, startedAt: Date.now() };
      job.startedSent = send("command:started", job.started);
    };
    try {
      const argv = this.#argv(info.command);
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

  #complete(job: Job, status: FinalStatus, exitCode: number | null): void {
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
    this.#options.send("command:completed", job.completion);
  }
}
