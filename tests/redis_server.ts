/**
 * A real `redis-server` for tests: started on a free loopback port with its
 * own temporary directory, stopped and cleaned up afterwards, and
 * restartable on the same port and directory (so an append-only file
 * written by one run is read by the next).
 *
 * ```ts
 * const redis = await RedisServer.start({ appendOnly: true });
 * try { ... redis.url ... } finally { await redis.close(); }
 * ```
 *
 * @module
 */
import { freePort } from "./faults/server_process.ts";

/** Options of {@link RedisServer.start}. */
export interface RedisServerOptions {
  /** Turn on the append-only file (`appendonly yes`, fsync every write). */
  appendOnly?: boolean;
  /** How long to wait until it is ready (default 20 s). */
  startTimeoutMs?: number;
  /** The program to run (default `redis-server` on the PATH). */
  binary?: string;
}

/** One redis-server process on 127.0.0.1 with a temporary directory. */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  /** What the runs printed so far (stdout and stderr). */
  log = "";
  #options: RedisServerOptions;
  #child: Deno.ChildProcess | null = null;
  #status: Promise<Deno.CommandStatus> | null = null;
  #pipes: Promise<void>[] = [];

  private constructor(port: number, dir: string, options: RedisServerOptions) {
    this.port = port;
    this.dir = dir;
    this.url = `redis://127.0.0.1:${port}`;
    this.#options = options;
  }

  /**
   * Start a new server and wait until it is ready. Another process may take
   * the port chosen before redis-server binds it (tests run in parallel): a
   * start refused with "Address already in use" is tried again on another
   * port, up to 3 times.
   */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    for (let attempt = 1;; attempt++) {
      const dir = await Deno.makeTempDir({ prefix: "flightdeck-redis-" });
      const server = new RedisServer(freePort(), dir, options);
      try {
        await server.restart();
        return server;
      } catch (error) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        if (attempt >= 3 || !String(error).includes("already in use")) {
          throw error;
        }
      }
    }
  }

  /** Whether the process runs. */
  get running(): boolean {
    return this.#child !== null;
  }

  /**
   * Start the process again (same port, directory and options) after
   * {@link stop} or {@link kill}, and wait until it is ready.
   *
   * @throws {Error} when it is running, or does not answer in time.
   */
  async restart(): Promise<void> {
    if (this.#child) throw new Error("redis-server is running");
    const args = [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--dir",
      this.dir,
      "--save",
      "",
      "--appendonly",
      this.#options.appendOnly ? "yes" : "no",
      "--appendfsync",
      "always",
      "--daemonize",
      "no",
      "--protected-mode",
      "yes",
      "--loglevel",
      "notice",
    ];
    const child = new Deno.Command(this.#options.binary ?? "redis-server", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#status = child.status;
    // redis-server prints "Ready to accept connections" once it serves
    // (after loading its append-only file).
    const ready = Promise.withResolvers<boolean>();
    this.#pipes = [child.stdout, child.stderr].map(async (stream) => {
      const decoder = new TextDecoder();
      for await (const bytes of stream) {
        this.log += decoder.decode(bytes, { stream: true });
        if (this.log.includes("Ready to accept connections")) {
          ready.resolve(true);
        }
      }
    });
    this.#status.then(() => ready.resolve(false));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(
        () => resolve(false),
        this.#options.startTimeoutMs ?? 20_000,
      );
    });
    const ok = await Promise.race([ready.promise, timeout]);
    clearTimeout(timer);
    if (!ok) {
      await this.kill();
      throw new Error(`redis-server did not start:\n${this.log}`);
    }
  }

  async #reap(): Promise<void> {
    await this.#status;
    await Promise.all(this.#pipes);
    this.#child = null;
    this.#status = null;
  }

  /** Stop gracefully (SIGTERM: the append-only file is flushed) and wait. */
  async stop(): Promise<void> {
    if (!this.#child) return;
    try {
      this.#child.kill("SIGTERM");
    } catch { /* exited already */ }
    await this.#reap();
  }

  /** Kill at once (SIGKILL) and wait. */
  async kill(): Promise<void> {
    if (!this.#child) return;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* exited already */ }
    await this.#reap();
  }

  /** Stop and delete the temporary directory. */
  async close(): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
