/**
 * The real server as a subprocess (`deno run -A main.ts`), so that fault
 * tests can SIGKILL, SIGTERM, SIGSTOP and restart it on the same port and
 * data directory. Tokens are signed in-test with the same secret.
 *
 * @module
 */
import { Auth } from "../../lib/server/auth.ts";
import type { Role } from "../../lib/protocol.ts";
import { ROOT } from "../helpers.ts";
import { V8_FLAG_ARGS } from "../../lib/v8_flags.ts";

/** The fixed secret every fault-test server uses (≥ 32 chars). */
export const FAULT_SECRET =
  "fault-tests-secret-fault-tests-secret-0123456789abcdef";

/** A free loopback TCP port (bind port 0, read it, close). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Options of {@link ServerProcess.start}. */
export interface ServerProcessOptions {
  /** Extra environment variables (e.g. `FLIGHTDECK_MAX_PEER_BUFFER`). */
  env?: Record<string, string>;
  /** How long to wait for "Flightdeck listening on" (default 30 s). */
  startTimeoutMs?: number;
  /**
   * Start under `ulimit -n <fileLimit>` (soft and hard open-file limit) via
   * bash, which then execs Deno (same pid).
   */
  fileLimit?: number;
  /** Start under this umask (e.g. "022") via bash, which then execs Deno. */
  umask?: string;
}

/** One running (or restartable) server subprocess. */
export class ServerProcess {
  readonly port: number;
  readonly dataDir: string;
  readonly url: string;
  readonly wsUrl: string;
  child: Deno.ChildProcess | null = null;
  /** Everything the current and previous runs printed (stdout + stderr). */
  log = "";
  /** What the runs printed to stderr alone (the server's JSON log lines). */
  stderr = "";
  #env: Record<string, string>;
  #startTimeoutMs: number;
  #shell: string[];
  #status: Promise<Deno.CommandStatus> | null = null;
  #auth = new Auth(FAULT_SECRET);
  #ownsDataDir: boolean;

  private constructor(
    port: number,
    dataDir: string,
    ownsDataDir: boolean,
    options: ServerProcessOptions,
  ) {
    this.port = port;
    this.dataDir = dataDir;
    this.#ownsDataDir = ownsDataDir;
    this.url = `http://127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port}`;
    this.#env = options.env ?? {};
    this.#startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.#shell = [
      ...(options.fileLimit === undefined
        ? []
        : [`ulimit -n ${options.fileLimit}`]),
      ...(options.umask === undefined ? [] : [`umask ${options.umask}`]),
    ];
  }

  /**
   * Start a server on a free port with a fresh temporary data dir. The
   * port is free when chosen; another process may take it before the
   * server binds it (tests run in parallel), so a start refused with "is
   * already in use" is tried again on another port, up to 3 times.
   */
  static async start(
    options: ServerProcessOptions = {},
  ): Promise<ServerProcess> {
    for (let attempt = 1;; attempt++) {
      const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-fault-" });
      const server = new ServerProcess(freePort(), dataDir, true, options);
      try {
        await server.#spawn();
        return server;
      } catch (error) {
        await server.dispose();
        if (attempt >= 3 || !String(error).includes("is already in use")) {
          throw error;
        }
      }
    }
  }

  /** The server process id (of the current run). */
  get pid(): number {
    if (!this.child) throw new Error("server not running");
    return this.child.pid;
  }

  /** Exit status of the current run. */
  get status(): Promise<Deno.CommandStatus> {
    if (!this.#status) throw new Error("server not started");
    return this.#status;
  }

  /** Whether the current run has not exited yet. */
  running = false;

  /** Sign a token with the server's secret. */
  token(role: Role, agentId?: string, ttlSeconds = 3600): Promise<string> {
    return this.#auth.sign({ role, agentId, ttlSeconds });
  }

  async #spawn(): Promise<void> {
    const deno = [
      Deno.execPath(),
      "run",
      "-A",
      ...V8_FLAG_ARGS,
      `${ROOT}main.ts`,
    ];
    const [command, ...args] = this.#shell.length === 0 ? deno : [
      "bash",
      "-c",
      `${this.#shell.join(" && ")} && exec "$0" "$@"`,
      ...deno,
    ];
    const child = new Deno.Command(command, {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: {
        NO_PROXY: "127.0.0.1,localhost",
        PORT: String(this.port),
        HOSTNAME: "127.0.0.1",
        FLIGHTDECK_DATA: this.dataDir,
        FLIGHTDECK_SECRET: FAULT_SECRET,
        FLIGHTDECK_LOG: "warn",
        ...this.#env,
      },
    }).spawn();
    this.child = child;
    this.running = true;
    this.#status = child.status.then((s) => {
      this.running = false;
      return s;
    });
    let listening: () => void = () => {};
    const ready = new Promise<void>((resolve) => listening = resolve);
    const pump = async (
      stream: ReadableStream<Uint8Array<ArrayBuffer>>,
      isStderr = false,
    ) => {
      const reader = stream.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const text = decoder.decode(value, { stream: true });
          this.log += text;
          if (isStderr) this.stderr += text;
          checkReady();
        }
      } catch {
        // The process died; the streams end.
      }
    };
    // The log marker must count only this run's output.
    this.log += `\n--- start ${new Date().toISOString()} ---\n`;
    const before = this.log.length;
    const checkReady = () => {
      // "Flightdeck listening on" comes first; the signal handlers are
      // installed right after the last start-up line ("Connect an agent").
      const output = this.log.slice(before);
      if (
        output.includes("Flightdeck listening on") &&
        output.includes("Connect an agent")
      ) {
        listening();
      }
    };
    const pumps = [pump(child.stdout), pump(child.stderr, true)];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        ready.then(() => undefined),
        this.#status.then((s) => {
          throw new Error(
            `server exited with ${s.code} before listening:\n${this.log}`,
          );
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `server not listening after ${this.#startTimeoutMs} ms:\n${this.log}`,
                ),
              ),
            this.#startTimeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    void Promise.all(pumps);
  }

  /** Send `signal` to the server. Unless SIGSTOP/SIGCONT, wait for the exit. */
  async kill(
    signal: Deno.Signal = "SIGKILL",
    timeoutMs = 10_000,
  ): Promise<Deno.CommandStatus | null> {
    if (!this.child || !this.running) return null;
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
    if (signal === "SIGSTOP" || signal === "SIGCONT") return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        this.status,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `server did not exit ${timeoutMs} ms after ${signal}`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Start again on the same port and data dir (the previous run must be gone). */
  async restart(): Promise<void> {
    if (this.running) throw new Error("server still running");
    // The port may linger for a moment after a kill: retry until bound.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await this.#spawn();
        return;
      } catch (error) {
        if (
          Date.now() > deadline ||
          !String(error).includes("AddrInUse") &&
            !String(error).includes("in use")
        ) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Resident set size of the server in bytes (from /proc), or 0 if gone. */
  rssBytes(): number {
    if (!this.child || !this.running) return 0;
    try {
      const status = Deno.readTextFileSync(`/proc/${this.child.pid}/status`);
      const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
      return match ? Number(match[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  /** Kill (SIGKILL) if still running and remove the data dir. */
  async dispose(): Promise<void> {
    if (this.running) {
      try {
        this.child?.kill("SIGCONT");
      } catch {
        // Gone.
      }
      await this.kill("SIGKILL").catch(() => {});
    }
    if (this.#ownsDataDir) {
      await Deno.remove(this.dataDir, { recursive: true }).catch(() => {});
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
