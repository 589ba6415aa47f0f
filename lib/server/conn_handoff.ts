/**
 * The connection guard without the byte relay ("handoff",
 * `FLIGHTDECK_CONN_GUARD=handoff`): accepts on the public address on the
 * main thread and hands each accepted connection to Deno's HTTP server for
 * that one connection, so no byte is copied and no second socket is used.
 *
 * **Internal API.** Deno 2 has no public way to serve HTTP on an accepted
 * connection. This uses `Deno.serveHttp(conn)` (the `HttpConn` API, removed
 * from Deno 2's types but still present at runtime; checked with Deno
 * 2.9.6). The other candidate, `Deno[Deno.internal].serveHttpOnConnection`,
 * closes an upgraded WebSocket as soon as the upgrade is done in 2.9.6 (its
 * per-connection server ends with the upgrade and closes its sockets), so
 * it cannot carry the app's sockets (lib/server/conn_handoff_probe_test.ts
 * pins both). {@link handoffAvailable} checks for the function; listen.ts
 * falls back to the relaying guard when it is missing.
 *
 * What it keeps of the guard (lib/server/conn_guard.ts), per connection:
 *
 * - caps per client address (IPv6 per /64) and in all, with the same
 *   eviction order (lib/server/conn_table.ts): the oldest connection whose
 *   first request head has not reached the handler, else the oldest idle
 *   keep-alive one (no request in flight, not a WebSocket or event stream),
 *   else the new one is closed;
 * - the head timeout: a connection whose first request head has not reached
 *   the handler within `headTimeoutMs` is closed;
 * - the keep-alive timeout: a plain HTTP connection with no request in
 *   flight for `keepAliveTimeoutMs` is closed (so a dripped second request
 *   head is closed after it, not after the request timeout);
 * - the request timeout: a plain HTTP request whose response has not been
 *   returned by the handler within `requestTimeoutMs` of its head, or whose
 *   response body has not been taken on by the HTTP server (one chunk at a
 *   time, as it writes) for `requestTimeoutMs`, closes the connection;
 * - surviving accept errors (EMFILE) by waiting and accepting again;
 * - the real client address for routes (no port map, no internal port).
 *
 * What it cannot keep, because it sees requests, not bytes:
 *
 * - `maxHeadBytes` is checked on the parsed head (request line and header
 *   fields, 431 and close above it), after the HTTP server has read it: a
 *   head is buffered up to the server's own limit (about 400 KiB, 431
 *   above), not 32 KiB;
 * - `idleTimeoutMs` (no byte either way) does not apply: WebSockets and
 *   event streams are closed by the app's heartbeat timeouts instead
 *   (`dashboardTimeoutMs`, `agentTimeoutMs`, the SSE session timeout);
 * - a dripped request body is not seen: the app's body reader answers 408
 *   after `bodyTimeoutMs` (lib/server/body.ts);
 * - a slow reader of a response is seen only as a body the HTTP server
 *   stops taking on (see the request timeout), after the socket buffers
 *   and the server's own write buffer have filled; a body of at most 16
 *   KiB in memory is taken on at once, so its slow reader is closed by the
 *   keep-alive timeout instead;
 * - a request counts from its head reaching the handler, not from its first
 *   byte;
 * - a WebSocket is found through an internal symbol of the upgrade response
 *   (`[[associated_ws]]`, Deno 2.9.6); without it, an upgraded connection
 *   would leave the counts at the upgrade.
 *
 * @module
 */
import { acceptLoop } from "./accept_loop.ts";
import { ConnectionTable } from "./conn_table.ts";
import { addressKey } from "./address.ts";
import { type GuardStats, readStats, STATS_FIELDS } from "./conn_guard.ts";

/** The request handler being served (as `Deno.serve`'s). */
export type HandoffHandler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Options of {@link HandoffFront.listen}. */
export interface HandoffOptions {
  hostname: string;
  port: number;
  handler: HandoffHandler;
  /** Time a new connection has for its first request head to arrive. */
  headTimeoutMs: number;
  /** Largest request head (request line and header fields). */
  maxHeadBytes: number;
  /** Close a plain HTTP connection idle between requests this long; 0 never. */
  keepAliveTimeoutMs?: number;
  /** See the module doc; 0 never. */
  requestTimeoutMs?: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Called for events worth a log line. */
  onEvent?: (message: string, fields: Record<string, unknown>) => void;
}

interface RequestEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}

interface HttpConn extends AsyncIterable<RequestEvent> {
  nextRequest(): Promise<RequestEvent | null>;
  close(): void;
}

/** `Deno.serveHttp`'s shape. */
export type ServeHttp = (conn: Deno.Conn) => HttpConn;

/** `Deno.serveHttp` when this runtime has it (see the module doc). */
export function denoServeHttp(): ServeHttp | undefined {
  const fn = (Deno as unknown as { serveHttp?: unknown }).serveHttp;
  return typeof fn === "function" ? fn as ServeHttp : undefined;
}

/** Whether the handoff front can run here. */
export function handoffAvailable(): boolean {
  return denoServeHttp() !== undefined && typeof Deno.listen === "function";
}

interface Entry {
  /** Closes the connection: the HTTP server's, else the bare one. */
  http: HttpConn | { close(): void };
  addr: Deno.NetAddr;
  closed: boolean;
  /** `performance.now()` at accept (the head timeout runs from it). */
  since: number;
  /** Requests whose response is not yet taken on in full. */
  inFlight: number;
  /** Of a request in flight: when it last made progress. */
  progress: number;
  /** Event streams in flight, or 1 for a WebSocket (no timeouts apply). */
  streams: number;
  /** The WebSocket this connection was upgraded to. */
  socket: WebSocket | null;
  /** `performance.now()` since when no request is in flight. */
  idleSince: number;
  /** The HTTP server will take no more requests on it. */
  ended: boolean;
}

/** Bytes of the response body handed to the HTTP server at a time. */
const BODY_CHUNK = 16 * 1024;
/** Stands for a connection's HTTP server once it is closed. */
const CLOSED = { close() {} };
/** Settles after any promise settled before it was created. */
const NOT_YET = Promise.resolve("not yet" as const);

/** A running front; see the module doc. */
export class HandoffFront {
  readonly addr: Deno.NetAddr;
  #counters = new Int32Array(STATS_FIELDS.length);
  #listener: Deno.TcpListener;
  #options: HandoffOptions;
  #serveHttp: ServeHttp;
  #table: ConnectionTable<Entry>;
  #closing = false;
  #sweep: ReturnType<typeof setInterval>;
  #loop: Promise<void>;
  /** Each connection's request loop (ends when the connection does). */
  #tasks = new Set<Promise<unknown>>();
  /** Requests being answered (a handler may never settle). */
  #responses = new Set<Promise<unknown>>();

  private constructor(
    listener: Deno.TcpListener,
    options: HandoffOptions,
    serveHttp: ServeHttp,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#serveHttp = serveHttp;
    this.addr = listener.addr;
    this.#table = new ConnectionTable<Entry>({
      maxTotal: options.maxConnections,
      maxPerKey: options.maxConnectionsPerAddress,
      evictable: isKeepAliveIdle,
    });
    const limits = [
      options.headTimeoutMs,
      options.keepAliveTimeoutMs ?? 0,
      options.requestTimeoutMs ?? 0,
    ].filter((ms) => ms > 0);
    this.#sweep = setInterval(
      () => this.#check(),
      Math.max(10, Math.floor(Math.min(...limits) / 4)),
    );
    this.#loop = this.#acceptLoop();
  }

  /**
   * Listen on `options.hostname:options.port` and start accepting.
   *
   * @throws {RangeError} for caps or limits below 1.
   * @throws {TypeError} when this runtime has no `Deno.serveHttp`.
   * @throws {Deno.errors.AddrInUse} when the address is taken.
   */
  static listen(options: HandoffOptions): HandoffFront {
    for (
      const key of [
        "headTimeoutMs",
        "maxHeadBytes",
        "maxConnections",
        "maxConnectionsPerAddress",
      ] as const
    ) {
      if (!(options[key] >= 1)) {
        throw new RangeError(`Invalid ${key} "${options[key]}"`);
      }
    }
    const serveHttp = denoServeHttp();
    if (!serveHttp) throw new TypeError("Deno.serveHttp is unavailable");
    const listener = Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
    });
    return new HandoffFront(listener, options, serveHttp);
  }

  /** Current counters (the guard's; `idleTimeouts` counts keep-alive ones). */
  get stats(): GuardStats {
    return readStats(this.#counters);
  }

  #count(name: typeof STATS_FIELDS[number]): void {
    this.#counters[STATS_FIELDS.indexOf(name)]++;
  }

  #sync(): void {
    this.#counters[0] = this.#table.size;
    this.#counters[1] = this.#table.pendingCount;
  }

  /** Stop accepting; open connections keep going. */
  stopAccepting(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Stop accepting and close connections still waiting for their first
   * head; give the requests in flight up to `graceMs` to be answered, then
   * close every connection (WebSockets with 1001).
   */
  async close(graceMs = 2000): Promise<void> {
    this.stopAccepting();
    await this.#loop;
    for (const entry of this.#table.entries()) {
      if (this.#table.isPending(entry)) this.#close(entry);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#responses]),
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
    for (const entry of this.#table.entries()) this.#close(entry);
    clearInterval(this.#sweep);
    await Promise.allSettled([...this.#tasks]);
  }

  #acceptLoop(): Promise<void> {
    return acceptLoop(this.#listener, {
      closing: () => this.#closing,
      admit: (conn) => this.#admit(conn),
      failed: (error, retryMs) => {
        this.#count("acceptErrors");
        this.#options.onEvent?.("Accept failed; retrying", {
          error: String(error),
          retryMs,
        });
      },
    });
  }

  #admit(conn: Deno.Conn): void {
    const addr = conn.remoteAddr as Deno.NetAddr;
    const now = performance.now();
    const entry: Entry = {
      http: conn, // Until the HTTP server has it (below).
      addr,
      closed: false,
      since: now,
      inFlight: 0,
      progress: now,
      streams: 0,
      socket: null,
      idleSince: now,
      ended: false,
    };
    const { admitted, evicted } = this.#table.add(
      entry,
      addressKey(addr.hostname),
    );
    for (const old of evicted) {
      this.#count("refused");
      this.#close(old);
    }
    this.#sync();
    if (!admitted) {
      this.#count("refused");
      closeQuietly(conn);
      return;
    }
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
      entry.http = this.#serveHttp(conn);
    } catch (error) {
      this.#options.onEvent?.("Serving a connection failed", {
        error: String(error),
      });
      this.#close(entry);
      return;
    }
    this.#track(this.#serve(entry as Entry & { http: HttpConn }));
  }

  #track(task: Promise<unknown>, set = this.#tasks): void {
    set.add(task);
    task.finally(() => set.delete(task));
  }

  /** Take the connection's requests until it ends. */
  async #serve(entry: Entry & { http: HttpConn }): Promise<void> {
    for (;;) {
      let event: RequestEvent | null;
      try {
        event = await entry.http.nextRequest();
      } catch (error) {
        // The HTTP server answered it (431, 400) or the client is gone.
        if (/too large/i.test(String(error))) this.#count("headTooLarge");
        event = null;
      }
      if (event === null || entry.closed) break;
      if (this.#table.isPending(entry)) {
        this.#table.settle(entry);
        this.#sync();
      }
      this.#track(this.#respond(entry, event), this.#responses);
    }
    // Upgraded: the WebSocket owns the connection (closed when it is).
    // Otherwise the last responses may still be on their way: the last one
    // to finish closes it.
    entry.ended = true;
    if (entry.socket === null && entry.inFlight === 0) this.#close(entry);
  }

  async #respond(entry: Entry, event: RequestEvent): Promise<void> {
    const now = performance.now();
    entry.inFlight++;
    entry.progress = now;
    const { request } = event;
    let stream = false;
    const { promise: completed, resolve: complete } = Promise.withResolvers<
      void
    >();
    try {
      let response: Response;
      if (headBytes(request) > this.#options.maxHeadBytes) {
        this.#count("headTooLarge");
        response = new Response("Request Header Fields Too Large\n", {
          status: 431,
          headers: { connection: "close" },
        });
      } else {
        try {
          response = await this.#options.handler(request, {
            remoteAddr: entry.addr,
            completed,
          });
        } catch (error) {
          this.#options.onEvent?.("Handler failed", { error: String(error) });
          response = new Response("Internal Server Error\n", { status: 500 });
        }
      }
      if (entry.closed) return;
      entry.progress = performance.now();
      const socket = upgradedSocket(response);
      if (socket) {
        entry.socket = socket;
        entry.streams++;
        stream = true;
        socket.addEventListener("close", () => this.#close(entry));
      } else if (isEventStream(response)) {
        entry.streams++;
        stream = true;
      } else if (response.body) {
        response = await this.#watchBody(entry, response);
        if (entry.closed) return;
      }
      await event.respondWith(response);
      // Upgraded: the WebSocket has the connection; the HTTP server's
      // state for it can go (the socket outlives it).
      if (entry.socket) {
        closeQuietly(entry.http);
        entry.http = CLOSED;
      }
    } catch {
      // The client is gone, or the connection was closed here. A WebSocket
      // whose 101 never went out stays CONNECTING and never fires "close":
      // its connection is done.
      if (entry.socket?.readyState === WebSocket.CONNECTING) {
        this.#close(entry);
      }
    } finally {
      complete();
      entry.inFlight--;
      if (stream && entry.socket === null) entry.streams--;
      if (entry.inFlight === 0) {
        entry.idleSince = performance.now();
        if (entry.ended && entry.socket === null) this.#close(entry);
      }
    }
  }

  /**
   * `response` with its body handed to the HTTP server at most
   * {@link BODY_CHUNK} bytes at a time, each taken chunk counting as
   * progress of the request. A body already complete in memory (a byte or
   * string body) keeps its length (`content-length`); a small one is handed
   * over as it is.
   */
  async #watchBody(entry: Entry, response: Response): Promise<Response> {
    const init = {
      status: response.status,
      statusText: response.statusText,
      headers: new Headers(response.headers),
    };
    const reader = response.body!.getReader();
    const first = await reader.read();
    entry.progress = performance.now();
    if (first.done) return new Response(null, init);
    // A body in memory is done at once; a stream's next chunk is pending.
    const next = reader.read();
    const ready = await Promise.race([next, NOT_YET]);
    let pending: Uint8Array | null = first.value;
    let following: Promise<ReadableStreamReadResult<Uint8Array>> | null = next;
    if (ready !== "not yet" && ready.done) {
      if (first.value.length <= BODY_CHUNK) {
        return new Response(first.value, init);
      }
      init.headers.set("content-length", String(first.value.length));
      following = null;
    }
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        entry.progress = performance.now();
        if (!pending || pending.length === 0) {
          if (following === null) return controller.close();
          const { value, done } = await following;
          following = reader.read();
          // Read ahead: a failure is seen by the next pull; until then it
          // must not count as unhandled (Deno exits on those).
          following.catch(() => {});
          if (done) return controller.close();
          pending = value;
        }
        controller.enqueue(pending.subarray(0, BODY_CHUNK));
        pending = pending.subarray(BODY_CHUNK);
        if (pending.length === 0 && following === null) controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
    return new Response(body, init);
  }

  /** Close connections past their head, keep-alive or request time. */
  #check(): void {
    const now = performance.now();
    const { headTimeoutMs } = this.#options;
    const keepAlive = this.#options.keepAliveTimeoutMs ?? 0;
    const request = this.#options.requestTimeoutMs ?? 0;
    for (const entry of this.#table.entries()) {
      if (this.#table.isPending(entry)) {
        if (now - entry.since >= headTimeoutMs) {
          this.#count("headTimeouts");
          this.#close(entry);
        }
      } else if (entry.streams > 0) {
        continue;
      } else if (entry.inFlight > 0) {
        if (request > 0 && now - entry.progress >= request) {
          this.#count("requestTimeouts");
          this.#close(entry);
        }
      } else if (keepAlive > 0 && now - entry.idleSince >= keepAlive) {
        this.#count("idleTimeouts");
        this.#close(entry);
      }
    }
  }

  #close(entry: Entry): void {
    if (entry.closed) return;
    entry.closed = true;
    this.#table.remove(entry);
    this.#sync();
    const socket = entry.socket;
    if (socket && socket.readyState < WebSocket.CLOSING) {
      try {
        socket.close(1001, "Server closing");
      } catch {
        // Closed meanwhile.
      }
    }
    closeQuietly(entry.http);
  }
}

/** Whether `entry` is an idle keep-alive connection (evictable). */
function isKeepAliveIdle(entry: Entry): boolean {
  return entry.inFlight === 0 && entry.streams === 0 &&
    entry.socket === null;
}

function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}

/** Bytes of `request`'s head as sent, about (request line and fields). */
function headBytes(request: Request): number {
  // The URL with its origin: a few bytes more than the request target.
  let n = request.method.length + request.url.length + 12;
  for (const [name, value] of request.headers) {
    n += name.length + value.length + 4;
  }
  return n;
}

function isEventStream(response: Response): boolean {
  return /^text\/event-stream/i.test(
    response.headers.get("content-type") ?? "",
  );
}

/**
 * The WebSocket `Deno.upgradeWebSocket` tied to `response` (an internal
 * symbol, checked with Deno 2.9.6), or null.
 */
function upgradedSocket(response: Response): WebSocket | null {
  if (response.status !== 101) return null;
  for (const symbol of Object.getOwnPropertySymbols(response)) {
    if (symbol.description === "[[associated_ws]]") {
      const socket = (response as unknown as Record<symbol, unknown>)[symbol];
      if (socket instanceof WebSocket) return socket;
    }
  }
  return null;
}
