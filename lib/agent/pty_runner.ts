/**
 * Runs one child process inside a pseudo-terminal (node-pty), so programs see
 * a TTY and print what a human would see: stdout and stderr merged, colors on.
 * Same {@link RunningProcess} contract as `startProcess` in `runner.ts`.
 *
 * The PTY's input side is written only with what {@link RunningProcess.write}
 * gets (the controller's `terminal:input`) and never closed: a program that
 * waits for input (a prompt, `read`, `cat` without arguments) waits until
 * someone types the answer, or the command is interrupted or times out. The
 * terminal's line discipline echoes what is typed, as in a real terminal.
 *
 * @module
 */
import { ProcessGroup } from "./process_group.ts";
import { constants } from "node:os";
import type { IPty } from "@lydell/node-pty";
import {
  COLOR_ENV,
  findExecutable,
  type ProcessResult,
  type RunningProcess,
  SpawnError,
} from "./runner.ts";

/** The part of `@lydell/node-pty` the agent uses. */
export interface PtyApi {
  spawn: typeof import("@lydell/node-pty").spawn;
}

/** node-pty could not be loaded (unsupported platform, missing binary). */
export class PtyUnavailableError extends Error {
  /** @param message Names the platform, e.g. `... on linux-riscv64`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PtyUnavailableError";
  }
}

/** `os-arch` of this process, as node-pty names its binary packages. */
export function platformName(): string {
  return `${Deno.build.os}-${Deno.build.arch}`;
}

let loading: Promise<PtyApi> | undefined;

/**
 * Load node-pty once (its native binary is platform-specific). Call it at
 * start-up so an unsupported platform fails there, not in the middle of a
 * command. `importer` replaces the real import (tests); it is not cached.
 *
 * @throws {PtyUnavailableError} When the module or its binary cannot load.
 */
export function loadPty(
  importer?: () => Promise<{ default?: unknown }>,
): Promise<PtyApi> {
  if (!importer && loading) return loading;
  const attempt = (importer ?? (() => import("@lydell/node-pty")))()
    .then((mod) => {
      const api = (mod.default ?? mod) as Partial<PtyApi>;
      if (typeof api.spawn !== "function") {
        throw new Error("the module has no spawn()");
      }
      return api as PtyApi;
    }).catch((error) => {
      if (!importer) loading = undefined;
      const detail = error instanceof Error
        ? error.message.split("\n")[0]
        : String(error);
      throw new PtyUnavailableError(
        `PTY mode is not available on ${platformName()}: ${detail}`,
        { cause: error },
      );
    });
  if (!importer) loading = attempt;
  return attempt;
}

/** Options of {@link startPtyProcess}. */
export interface StartPtyProcessOptions {
  /** node-pty, from {@link loadPty}. */
  pty: PtyApi;
  /** Program and arguments; never passed through a shell. */
  argv: string[];
  cwd: string;
  /** Terminal size in character cells. */
  cols: number;
  rows: number;
  /** Default wait between interrupt escalation steps. */
  graceMs: number;
  /** Decoded text as the terminal produced it (UTF-8 never split). */
  onOutput: (text: string) => void;
  /** Variables added to the agent's environment for this program. */
  env?: Record<string, string>;
}

/** Whether `pid` still exists (signal 0 is not exposed: SIGCONT is harmless). */
function processExists(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

const signalNames = new Map<number, Deno.Signal>(
  Object.entries(constants.signals).map((
    [name, number],
  ) => [number, name as Deno.Signal]),
);

/**
 * Start `argv` in a new PTY. node-pty makes the child a session leader, so
 * its pid is the process-group id and interrupts reach every descendant:
 * SIGINT, then SIGTERM and SIGKILL after `graceMs` each, like pipe mode.
 *
 * @throws {SpawnError} When the program is missing or cannot be spawned.
 */
export function startPtyProcess(
  options: StartPtyProcessOptions,
): RunningProcess {
  const { argv, cwd, graceMs, onOutput } = options;
  if (argv.length === 0 || argv[0] === "") {
    throw new SpawnError("Empty command");
  }
  const program = findExecutable(argv[0]);
  if (program === null) throw new SpawnError(`Command "${argv[0]}" not found`);
  let term: IPty;
  try {
    // node-pty replaces the environment rather than extending it.
    term = options.pty.spawn(program, argv.slice(1), {
      name: COLOR_ENV.TERM,
      cols: options.cols,
      rows: options.rows,
      cwd,
      env: { ...Deno.env.toObject(), ...COLOR_ENV, ...options.env },
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new SpawnError(`Cannot start "${argv[0]}": ${detail}`, {
      cause: error,
    });
  }
  const pid = term.pid;
  const group = new ProcessGroup(pid);
  let interrupted = false;
  let reason: string | undefined;
  let exited = false;

  const dataListener = term.onData(onOutput);
  // node-pty destroys the terminal 200 ms after the program exits, unread
  // output included: while paused, watch for the exit and read to the end.
  let paused = false;
  let exitWatch: ReturnType<typeof setInterval> | undefined;
  const stopExitWatch = () => {
    clearInterval(exitWatch);
    exitWatch = undefined;
  };
  const resume = () => {
    stopExitWatch();
    if (!paused) return;
    paused = false;
    term.resume();
  };
  // node-pty reports the exit once the terminal is read to its end, or
  // 200 ms after the process ended when leftovers keep it open.
  const done = new Promise<ProcessResult>((resolve) => {
    const exitListener = term.onExit(({ exitCode, signal }) => {
      exited = true;
      stopExitWatch();
      dataListener.dispose();
      exitListener.dispose();
      group.clearTimers();
      if (interrupted && group.alive()) {
        // Orphans of an interrupted command get no further grace.
        group.signal("SIGTERM");
        group.signal("SIGKILL");
      }
      const signalName = signal ? signalNames.get(signal) ?? null : null;
      resolve({
        code: signal ? 128 + signal : exitCode,
        signal: signalName,
        interrupted,
        reason,
      });
    });
  });

  return {
    pid,
    done,
    interrupt(opts = {}) {
      if (interrupted || exited) return;
      interrupted = true;
      reason = opts.reason;
      group.escalate(opts.graceMs ?? graceMs);
    },
    pause() {
      if (paused || exited) return;
      paused = true;
      term.pause();
      exitWatch = setInterval(() => {
        if (!processExists(pid)) resume();
      }, 50);
    },
    resume,
    write(data) {
      if (exited) return;
      try {
        term.write(data);
      } catch {
        // The terminal closed between the exit and its report: nothing reads.
      }
    },
    resize(cols, rows) {
      if (exited) return;
      try {
        term.resize(cols, rows);
      } catch {
        // Same: a closed terminal has no size to change.
      }
    },
  };
}
