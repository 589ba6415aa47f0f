/**
 * Runs one child process in its own process group (via `setsid`), streams its
 * output as raw bytes (reads can be paused: flow control) and interrupts it
 * with SIGINT → SIGTERM → SIGKILL to the whole group.
 *
 * @module
 */
import { ProcessGroup } from "./process_group.ts";

/** The two pipes of a child process (PTY mode merges them: `pty_runner.ts`). */
export type PipeStream = "stdout" | "stderr";

/** Environment added to every command so tools keep their colors. */
export const COLOR_ENV: Readonly<Record<string, string>> = {
  FORCE_COLOR: "1",
  CLICOLOR_FORCE: "1",
  TERM: "xterm-256color",
};

/** The program could not be started (missing binary, bad cwd, ...). */
export class SpawnError extends Error {
  /** @param message Sentence-case description, e.g. `Command "x" not found`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SpawnError";
  }
}

/** Options of {@link startProcess}. */
export interface StartProcessOptions {
  /** Program and arguments; never passed through a shell. */
  argv: string[];
  cwd: string;
  /** Default wait between interrupt escalation steps. */
  graceMs: number;
  /** Raw bytes as they are read. */
  onOutput: (stream: PipeStream, bytes: Uint8Array) => void;
  /**
   * How long to keep reading after the process exited (default graceMs),
   * counting only time not paused.
   */
  drainMs?: number;
}

/** How a process ended. */
export interface ProcessResult {
  /** Exit code, or 128 + signal number when killed by a signal. */
  code: number;
  signal: Deno.Signal | null;
  /** Whether {@link RunningProcess.interrupt} was called. */
  interrupted: boolean;
  /** Reason given to the first interrupt. */
  reason?: string;
}

/** A started process. */
export interface RunningProcess {
  pid: number;
  /** Resolves once the process exited and its output was read to the end. */
  done: Promise<ProcessResult>;
  /** SIGINT the group, then SIGTERM and SIGKILL after `graceMs` each. */
  interrupt(options?: { reason?: string; graceMs?: number }): void;
  /**
   * Stop reading the output: once the pipe (or terminal) buffer is full the
   * program blocks on its next write, as on a slow terminal.
   */
  pause(): void;
  /** Read the output again. */
  resume(): void;
  /**
   * Type `data` into the program's terminal (PTY mode only; pipe commands
   * run with stdin closed and have none). Ignored once it exited.
   */
  write?(data: string): void;
  /** Resize the program's terminal (PTY mode only); ignored once it exited. */
  resize?(cols: number, rows: number): void;
}

let setsidPath: string | null | undefined;

/** Resolve `name` like a shell would: a path as is, else through `PATH`. */
export function findExecutable(name: string): string | null {
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "").split(":").filter(Boolean).map((dir) =>
      `${dir}/${name}`
    );
  for (const path of candidates) {
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // Not there: try the next directory.
    }
  }
  return null;
}

/**
 * Start `argv` in a new session so the interrupt reaches every descendant.
 *
 * @throws {SpawnError} When the program is missing or cannot be spawned.
 */
export function startProcess(options: StartProcessOptions): RunningProcess {
  const { argv, cwd, graceMs, onOutput } = options;
  if (argv.length === 0 || argv[0] === "") {
    throw new SpawnError("Empty command");
  }
  if (findExecutable(argv[0]) === null) {
    throw new SpawnError(`Command "${argv[0]}" not found`);
  }
  if (setsidPath === undefined) setsidPath = findExecutable("setsid");
  // setsid execs in place (a fresh child is never a group leader), so the
  // pid we get is the new process group id too.
  const grouped = setsidPath !== null;
  const [program, ...args] = grouped ? [setsidPath!, ...argv] : argv;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { ...COLOR_ENV },
    }).spawn();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new SpawnError(`Cannot start "${argv[0]}": ${detail}`, {
      cause: error,
    });
  }
  const pid = child.pid;
  const group = new ProcessGroup(pid, grouped);
  let interrupted = false;
  let reason: string | undefined;
  let exited = false;

  const readers = [
    child.stdout.getReader(),
    child.stderr.getReader(),
  ] as const;
  let paused = false;
  let cancelled = false;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const resolve of waiters.splice(0)) resolve();
  };
  const pump = async (
    reader: ReadableStreamDefaultReader<Uint8Array>,
    stream: PipeStream,
  ) => {
    // Start on a later microtask: a pause() right after start applies
    // before the first read.
    await Promise.resolve();
    try {
      for (;;) {
        // While paused nothing reads the pipe: the program blocks on it.
        while (paused && !cancelled) {
          await new Promise<void>((resolve) => waiters.push(resolve));
        }
        const { done, value } = await reader.read();
        if (done) return;
        onOutput(stream, value);
      }
    } catch {
      // A cancelled or broken pipe ends the stream like EOF.
    }
  };
  const streams = Promise.all([
    pump(readers[0], "stdout"),
    pump(readers[1], "stderr"),
  ]);

  // After the exit, background leftovers may hold the pipes open forever:
  // stop reading once `drainMs` passed without being paused.
  let drainLeft = options.drainMs ?? graceMs;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  let drainArmedAt = 0;
  const armDrain = () => {
    if (!exited || paused || cancelled || drainTimer !== undefined) return;
    drainArmedAt = Date.now();
    drainTimer = setTimeout(() => {
      drainTimer = undefined;
      cancelled = true;
      wake();
      for (const reader of readers) reader.cancel().catch(() => {});
    }, Math.max(0, drainLeft));
  };
  const holdDrain = () => {
    if (drainTimer === undefined) return;
    clearTimeout(drainTimer);
    drainTimer = undefined;
    drainLeft -= Date.now() - drainArmedAt;
  };

  const status = child.status.then((s) => {
    exited = true;
    // Orphans of an interrupted command get no further grace.
    if (interrupted && group.alive()) group.signal("SIGTERM");
    armDrain();
    return s;
  });

  const done = Promise.all([status, streams]).then(([s]) => {
    group.clearTimers();
    holdDrain();
    if (interrupted) group.signal("SIGKILL");
    return { code: s.code, signal: s.signal, interrupted, reason };
  });

  return {
    pid,
    done,
    interrupt(opts = {}) {
      if (interrupted) return;
      interrupted = true;
      reason = opts.reason;
      group.escalate(opts.graceMs ?? graceMs, exited ? "SIGTERM" : "SIGINT");
    },
    pause() {
      paused = true;
      holdDrain();
    },
    resume() {
      paused = false;
      wake();
      armDrain();
    },
  };
}
