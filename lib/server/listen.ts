/**
 * Serving the app: directly with `Deno.serve`, (the default) behind the
 * connection guard, which runs in a worker thread
 * (lib/server/guard_worker_client.ts), or with `connectionGuard:
 * "handoff"` behind the guard without a relay (lib/server/conn_handoff.ts;
 * the relaying guard where that is unavailable). A `Deno.serve` (the one
 * behind the relay, or the one without a guard) is restarted in process
 * when its accept loop dies (e.g. "Too many open files"), instead of the
 * process exiting; the handoff front survives accept errors itself.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { GuardStats } from "./conn_guard.ts";
import { GuardWorker } from "./guard_worker_client.ts";
import { handoffAvailable, HandoffFront } from "./conn_handoff.ts";
import { raiseFileLimit } from "./fd_limit.ts";
import type { Logger } from "./logger.ts";

/** The request handler being served. */
export type Handler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** A server listening for the app. */
export interface Listening {
  /** The public address. */
  addr: Deno.NetAddr;
  /** Where the internal `Deno.serve` listens behind the relay, else null. */
  internalAddr: Deno.NetAddr | null;
  /** How connections are served (handoff falls back to relay). */
  mode: "relay" | "handoff" | "off";
  /** Guard counters, or null when serving directly. */
  connections(): GuardStats | null;
  /** Stop accepting new connections (open ones go on). */
  stopAccepting(): void;
  /** Stop accepting, wait for open requests, then close what is left. */
  close(): Promise<void>;
}

/** File descriptors kept free for KV, agents' pipes, logs and the like. */
const FD_RESERVE = 64;
/** Descriptors one relayed connection uses: client, upstream, internal. */
const FDS_PER_CONNECTION = 3;
/** Descriptors one handed-off connection uses. */
const FDS_PER_HANDOFF = 1;

/**
 * Serve `handler` as `config` says (`connectionGuard`, caps, timeouts).
 *
 * @throws {Deno.errors.AddrInUse} when the public address is taken.
 */
export async function listen(
  handler: Handler,
  config: Config,
  log: Logger,
): Promise<Listening> {
  // Deno Deploy has neither Deno.listen nor workers (and fronts every
  // connection itself): serve directly there.
  const useGuard = config.connectionGuard !== false &&
    typeof Deno.listen === "function" &&
    !Deno.env.get("DENO_DEPLOYMENT_ID");
  let handoff = useGuard && config.connectionGuard === "handoff";
  if (handoff && !handoffAvailable()) {
    log.warn("Connection handoff unavailable here; relaying instead", {
      deno: Deno.version.deno,
    });
    handoff = false;
  }
  const limit = raiseFileLimit();
  if (!useGuard) {
    const server = await serveResilient(
      { hostname: config.hostname, port: config.port },
      handler,
      log,
    );
    return {
      addr: server.addr,
      internalAddr: null,
      mode: "off",
      connections: () => null,
      stopAccepting: () => server.abort(),
      close: async () => {
        server.abort();
        await server.finished;
      },
    };
  }
  let maxConnections = config.maxTcpConnections;
  if (limit && Number.isFinite(limit.soft)) {
    const fit = Math.floor(
      (limit.soft - FD_RESERVE) /
        (handoff ? FDS_PER_HANDOFF : FDS_PER_CONNECTION),
    );
    maxConnections = Math.max(1, Math.min(maxConnections, fit));
  }
  log.debug("Connection guard", {
    mode: handoff ? "handoff" : "relay",
    fileLimit: limit,
    maxConnections,
    maxConnectionsPerAddress: config.maxTcpConnectionsPerAddress,
  });
  if (handoff) {
    const front = HandoffFront.listen({
      hostname: config.hostname,
      port: config.port,
      handler,
      headTimeoutMs: config.headTimeoutMs,
      maxHeadBytes: config.maxHeadBytes,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxConnections,
      maxConnectionsPerAddress: config.maxTcpConnectionsPerAddress,
      onEvent: (message, fields) => log.warn(message, fields),
    });
    return {
      addr: front.addr,
      internalAddr: null,
      mode: "handoff",
      connections: () => front.stats,
      stopAccepting: () => front.stopAccepting(),
      close: () => front.close(),
    };
  }
  let guard: GuardWorker | null = null;
  const forbidden = () =>
    new Response("Forbidden\n", {
      status: 403,
      headers: { connection: "close" },
    });
  const internal = await serveResilient(
    { hostname: "127.0.0.1", port: 0 },
    async (req, info) => {
      // Only the guard may connect here; routes see the real client.
      const client = await guard?.clientOf(info.remoteAddr);
      if (!client) return forbidden();
      return handler(req, { remoteAddr: client, completed: info.completed });
    },
    log,
    (addr) => guard?.setUpstream(addr),
  );
  try {
    guard = await GuardWorker.start(
      {
        hostname: config.hostname,
        port: config.port,
        headTimeoutMs: config.headTimeoutMs,
        maxHeadBytes: config.maxHeadBytes,
        idleTimeoutMs: config.idleTimeoutMs,
        keepAliveTimeoutMs: config.keepAliveTimeoutMs,
        requestTimeoutMs: config.requestTimeoutMs,
        maxConnections,
        maxConnectionsPerAddress: config.maxTcpConnectionsPerAddress,
      },
      internal.addr,
      (message, fields) => log.warn(message, fields),
    );
  } catch (error) {
    internal.abort();
    await internal.finished;
    throw error;
  }
  const front: GuardWorker = guard;
  return {
    addr: front.addr,
    internalAddr: internal.addr,
    mode: "relay",
    connections: () => front.stats,
    stopAccepting: () => front.stopAccepting(),
    close: async () => {
      front.stopAccepting();
      internal.abort();
      await internal.finished;
      await front.close();
    },
  };
}

interface Resilient {
  /** The bound address (a restart binds the same one). */
  addr: Deno.NetAddr;
  abort(): void;
  /** Settles after `abort()` once the current server has finished. */
  finished: Promise<void>;
}

/**
 * `Deno.serve` that serves again on the same address when its accept loop
 * dies. A rejection of `finished` is that death; the process is not exited.
 */
async function serveResilient(
  address: { hostname: string; port: number },
  handler: Handler,
  log: Logger,
  onRestart?: (addr: Deno.NetAddr) => void,
): Promise<Resilient> {
  const controller = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<
    Deno.NetAddr
  >();
  const serve = (hostname: string, port: number, onListen: typeof resolve) =>
    Deno.serve(
      { hostname, port, signal: controller.signal, onListen },
      handler as Deno.ServeHandler<Deno.NetAddr>,
    );
  let current = serve(address.hostname, address.port, resolve);
  const addr = await listening;
  const { promise: finished, resolve: done } = Promise.withResolvers<void>();
  let backoff = 50;
  const watch = (server: Deno.HttpServer<Deno.NetAddr>) => {
    server.finished.then(
      () => {
        if (controller.signal.aborted) done();
        else restart(new Error("HTTP server finished unexpectedly"));
      },
      (error) => {
        if (controller.signal.aborted) done();
        else restart(error);
      },
    );
  };
  const restart = (error: unknown) => {
    log.error("HTTP server stopped; restarting it", {
      error: String(error),
      retryMs: backoff,
    });
    setTimeout(() => {
      if (controller.signal.aborted) return done();
      try {
        current = serve(addr.hostname, addr.port, () => {
          log.warn("HTTP server serving again", { port: addr.port });
          backoff = 50;
          onRestart?.(addr);
        });
        watch(current);
      } catch (failure) {
        backoff = Math.min(backoff * 2, 2000);
        restart(failure);
      }
    }, backoff);
  };
  watch(current);
  return { addr, abort: () => controller.abort(), finished };
}
