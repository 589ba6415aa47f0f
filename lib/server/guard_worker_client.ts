/**
 * The main-thread side of the connection guard running in a worker
 * (lib/server/conn_guard_worker.ts): starts it, mirrors which internal
 * connection carries which client, reads its counters from shared memory,
 * and starts it again on the same port should the worker die.
 *
 * @module
 */
import {
  type ConnectionGuardOptions,
  type GuardStats,
  readStats,
  STATS_FIELDS,
} from "./conn_guard.ts";

/** Guard options that cross to the worker (plain data). */
export type GuardWorkerOptions = Pick<
  ConnectionGuardOptions,
  | "hostname"
  | "port"
  | "headTimeoutMs"
  | "maxHeadBytes"
  | "idleTimeoutMs"
  | "keepAliveTimeoutMs"
  | "requestTimeoutMs"
  | "maxConnections"
  | "maxConnectionsPerAddress"
>;

/** Messages to the worker. */
export type ToGuard =
  | {
    type: "start";
    options: GuardWorkerOptions;
    upstream: Deno.NetAddr;
    counters: SharedArrayBuffer;
  }
  | { type: "upstream"; upstream: Deno.NetAddr }
  | { type: "stopAccepting" }
  | { type: "close"; graceMs: number };

/** Messages from the worker. */
type FromGuard =
  | { type: "listening"; addr: Deno.NetAddr }
  | { type: "failed"; name: string; message: string }
  | { type: "map"; port: number; client: Deno.NetAddr }
  | { type: "unmap"; port: number }
  | { type: "event"; message: string; fields: Record<string, unknown> }
  | { type: "closed" };

/**
 * How long a request on an unknown internal connection waits for the
 * worker's "map" message (sent before the worker forwards any byte, but on
 * another channel than the bytes).
 */
const MAP_WAIT_MS = 2000;

/** A {@link ConnectionGuard} in a worker; see the module doc. */
export class GuardWorker {
  readonly addr: Deno.NetAddr;
  #options: GuardWorkerOptions;
  #upstream: Deno.NetAddr;
  #counters = new SharedArrayBuffer(STATS_FIELDS.length * 4);
  #worker: Worker;
  #clients = new Map<number, Deno.NetAddr>();
  #waiters = new Map<
    number,
    Set<(client: Deno.NetAddr | undefined) => void>
  >();
  #closing = false;
  #onEvent: (message: string, fields: Record<string, unknown>) => void;

  private constructor(
    worker: Worker,
    addr: Deno.NetAddr,
    options: GuardWorkerOptions,
    upstream: Deno.NetAddr,
    onEvent: (message: string, fields: Record<string, unknown>) => void,
  ) {
    this.#worker = worker;
    this.addr = addr;
    this.#options = options;
    this.#upstream = upstream;
    this.#onEvent = onEvent;
  }

  /**
   * Start the worker and wait until it listens.
   *
   * @throws {Deno.errors.AddrInUse} when the address is taken; the
   * worker's other start-up errors as {@link Error}.
   */
  static async start(
    options: GuardWorkerOptions,
    upstream: Deno.NetAddr,
    onEvent: (message: string, fields: Record<string, unknown>) => void,
  ): Promise<GuardWorker> {
    const counters = new SharedArrayBuffer(STATS_FIELDS.length * 4);
    const { worker, addr } = await spawn(options, upstream, counters);
    const guard = new GuardWorker(worker, addr, options, upstream, onEvent);
    guard.#counters = counters;
    guard.#attach(worker);
    return guard;
  }

  /** Current counters. */
  get stats(): GuardStats {
    return readStats(new Int32Array(this.#counters));
  }

  /**
   * The client an internal connection from `internal` carries, or
   * undefined when it is not the guard's.
   */
  clientOf(
    internal: Deno.Addr,
  ): Deno.NetAddr | undefined | Promise<Deno.NetAddr | undefined> {
    if (internal.transport !== "tcp" || internal.hostname !== "127.0.0.1") {
      return undefined;
    }
    const known = this.#clients.get(internal.port);
    if (known) return known;
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(internal.port);
      if (!waiters) this.#waiters.set(internal.port, waiters = new Set());
      const done = (client: Deno.NetAddr | undefined) => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0) this.#waiters.delete(internal.port);
        resolve(client);
      };
      const timer = setTimeout(() => done(undefined), MAP_WAIT_MS);
      waiters.add(done);
    });
  }

  /** Point new connections at another internal address. */
  setUpstream(upstream: Deno.NetAddr): void {
    this.#upstream = upstream;
    this.#worker.postMessage({ type: "upstream", upstream } as ToGuard);
  }

  /** Stop accepting; open connections go on. */
  stopAccepting(): void {
    this.#worker.postMessage({ type: "stopAccepting" } as ToGuard);
  }

  /** Close the guard (see {@link ConnectionGuard.close}) and the worker. */
  async close(graceMs = 2000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#worker.addEventListener("message", (e: MessageEvent<FromGuard>) => {
      if (e.data.type === "closed") resolve();
    });
    this.#worker.postMessage({ type: "close", graceMs } as ToGuard);
    // A worker that died (or hangs) never answers: terminate it anyway.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      promise,
      new Promise((resolve) => timer = setTimeout(resolve, graceMs + 2000)),
    ]);
    clearTimeout(timer);
    this.#worker.terminate();
    for (const waiters of this.#waiters.values()) {
      for (const done of waiters) done(undefined);
    }
  }

  #attach(worker: Worker): void {
    worker.addEventListener("message", (e: MessageEvent<FromGuard>) => {
      const data = e.data;
      if (data.type === "map") {
        this.#clients.set(data.port, data.client);
        for (const done of this.#waiters.get(data.port) ?? []) {
          done(data.client);
        }
      } else if (data.type === "unmap") {
        this.#clients.delete(data.port);
      } else if (data.type === "event") {
        this.#onEvent(data.message, data.fields);
      }
    });
    worker.addEventListener("error", (event) => {
      // An uncaught error killed the guard: serve again on the same port
      // rather than let the process exit.
      event.preventDefault();
      this.#onEvent("Connection guard worker died; restarting it", {
        error: String(event.message),
      });
      worker.terminate();
      this.#clients.clear();
      if (!this.#closing) this.#restart(50);
    });
  }

  #restart(delayMs: number): void {
    setTimeout(async () => {
      if (this.#closing) return;
      try {
        const options = { ...this.#options, port: this.addr.port };
        const { worker } = await spawn(
          options,
          this.#upstream,
          this.#counters,
        );
        this.#worker = worker;
        this.#attach(worker);
        this.#onEvent("Connection guard serving again", {
          port: this.addr.port,
        });
      } catch (error) {
        this.#onEvent("Connection guard restart failed", {
          error: String(error),
        });
        this.#restart(Math.min(delayMs * 2, 2000));
      }
    }, delayMs);
  }
}

async function spawn(
  options: GuardWorkerOptions,
  upstream: Deno.NetAddr,
  counters: SharedArrayBuffer,
): Promise<{ worker: Worker; addr: Deno.NetAddr }> {
  const worker = new Worker(
    new URL("./conn_guard_worker.ts", import.meta.url).href,
    { type: "module" },
  );
  const { promise, resolve, reject } = Promise.withResolvers<Deno.NetAddr>();
  const onMessage = (e: MessageEvent<FromGuard>) => {
    if (e.data.type === "listening") resolve(e.data.addr);
    else if (e.data.type === "failed") {
      const { name, message } = e.data;
      reject(
        name === "AddrInUse"
          ? new Deno.errors.AddrInUse(message)
          : new Error(`${name}: ${message}`),
      );
    }
  };
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    reject(new Error(`Connection guard worker failed: ${e.message}`));
  };
  worker.addEventListener("message", onMessage);
  worker.addEventListener("error", onError);
  worker.postMessage(
    { type: "start", options, upstream, counters } as ToGuard,
  );
  try {
    return { worker, addr: await promise };
  } catch (error) {
    worker.terminate();
    throw error;
  } finally {
    worker.removeEventListener("message", onMessage);
    worker.removeEventListener("error", onError);
  }
}
