/**
 * Processes of the benchmark harness: spawn a child with its output
 * collected line by line, wait for a line with a timeout, read its CPU time
 * and peak memory from `/proc`, and tear every child down however the run
 * ends.
 *
 * @module
 */

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
const TICKS = 100;

/**
 * User + system CPU seconds of `pid`, all its threads, or NaN when it is
 * gone or `/proc` is missing.
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return NaN;
  }
}

/** A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`), or NaN. */
function statusBytes(pid: number, field: string): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Resident memory of `pid` now, in bytes (NaN when gone). */
export function rssBytes(pid: number): number {
  return statusBytes(pid, "VmRSS");
}

/** Peak resident memory of `pid` since it started, in bytes (`VmHWM`). */
export function peakRssBytes(pid: number): number {
  return statusBytes(pid, "VmHWM");
}

/** Every child still running, killed by {@link killAll}. */
const running = new Set<Child>();
/** Set by {@link killAll}: nothing new may start. */
let stopping = false;

/** @throws {Error} Once {@link killAll} ran: the harness is stopping. */
export function checkNotStopping(): void {
  if (stopping) throw new Error("The bench is stopping");
}

/** Options of {@link Child.spawn}. */
export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Pipe stdin (for {@link Child.write}); else it is null. */
  stdin?: boolean;
}

/** A child process whose stdout and stderr are collected as lines. */
export class Child {
  readonly name: string;
  readonly process: Deno.ChildProcess;
  /** Lines printed so far (stdout and stderr, interleaved as read). */
  readonly lines: string[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  exited = false;
  #waiters = new Set<() => void>();
  #stdin: WritableStreamDefaultWriter<Uint8Array<ArrayBuffer>> | null = null;

  private constructor(name: string, process: Deno.ChildProcess) {
    this.name = name;
    this.process = process;
    running.add(this);
    this.status = process.status.then((status) => {
      this.exited = true;
      running.delete(this);
      this.#wake();
      return status;
    });
    this.#pump(process.stdout);
    this.#pump(process.stderr);
  }

  /** Spawn `command` with `args`. */
  static spawn(
    name: string,
    command: string,
    args: string[],
    options: SpawnOptions = {},
  ): Child {
    checkNotStopping();
    const process = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      env: { NO_PROXY: "127.0.0.1,localhost", ...options.env },
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const child = new Child(name, process);
    if (options.stdin) child.#stdin = process.stdin.getWriter();
    return child;
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Write a line to the child's stdin. */
  async write(line: string): Promise<void> {
    if (!this.#stdin) throw new Error(`${this.name}: stdin is not piped`);
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  async #pump(stream: ReadableStream<Uint8Array<ArrayBuffer>>): Promise<void> {
    let rest = "";
    try {
      for await (
        const text of stream.pipeThrough(new TextDecoderStream())
      ) {
        const parts = (rest + text).split("\n");
        rest = parts.pop()!;
        if (parts.length) {
          this.lines.push(...parts);
          this.#wake();
        }
      }
    } catch {
      // The process is gone.
    }
    if (rest) this.lines.push(rest);
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /**
   * The first line from index `from` on that starts with `prefix` (or one
   * of several); rejects after `timeoutMs` or when the child exits without
   * it, with its output.
   */
  waitLine(
    prefix: string | string[],
    timeoutMs: number,
    from = 0,
  ): Promise<string> {
    const prefixes = typeof prefix === "string" ? [prefix] : prefix;
    return new Promise((resolve, reject) => {
      let checked = from;
      const check = () => {
        for (; checked < this.lines.length; checked++) {
          const line = this.lines[checked];
          if (prefixes.some((p) => line.startsWith(p))) {
            done();
            return resolve(line);
          }
        }
        if (this.exited) {
          done();
          reject(this.#failure(`exited before "${prefix}"`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(this.#failure(`no "${prefix}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * The `DONE <json>` line's JSON, from `from` on; throws on a `FAIL` line,
   * after `timeoutMs`, or when the child exits first.
   */
  async done<T>(timeoutMs: number, from = 0): Promise<T> {
    const line = await this.waitLine(["DONE ", "FAIL "], timeoutMs, from);
    if (line.startsWith("FAIL ")) throw this.#failure(line);
    return JSON.parse(line.slice(5));
  }

  #failure(why: string): Error {
    return new Error(
      `${this.name} (pid ${this.pid}): ${why}; last output:\n  ${
        this.lines.slice(-15).join("\n  ")
      }`,
    );
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    this.#signal("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.status,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#signal("SIGKILL");
          resolve();
        }, graceMs);
      }),
    ]);
    clearTimeout(timer);
    await this.status;
    await this.#stdin?.close().catch(() => {});
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.process.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

/** Teardowns of other processes (servers), run by {@link killAll}. */
const teardowns = new Set<() => Promise<void>>();

/** Run `teardown` at {@link killAll} unless the returned function removed it. */
export function onKillAll(teardown: () => Promise<void>): () => void {
  teardowns.add(teardown);
  return () => teardowns.delete(teardown);
}

/**
 * Stop every child still running (SIGTERM, then SIGKILL) and run the
 * teardowns; from then on nothing new starts.
 */
export async function killAll(): Promise<void> {
  stopping = true;
  await Promise.all([
    ...[...running].map((child) => child.stop(1000)),
    ...[...teardowns].map((teardown) => teardown().catch(() => {})),
  ]);
}

/** The machine, for the report: CPU model, cores, memory, load. */
export function machine(): string {
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  const model = /^model name\s*:\s*(.+)$/m.exec(read("/proc/cpuinfo"))?.[1] ??
    "unknown CPU";
  const memKib = Number(/^MemTotal:\s+(\d+)/m.exec(read("/proc/meminfo"))?.[1]);
  const load = read("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  return `${model}, ${navigator.hardwareConcurrency} cores, ${
    (memKib / 1024 / 1024).toFixed(1)
  } GiB RAM, Deno ${Deno.version.deno}, load ${load || "n/a"}`;
}

/** 1-minute load average (NaN without /proc). */
export function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}
