/**
 * The connection guard: an in-process TCP front before `Deno.serve`, which
 * has no per-connection hooks. It accepts on the public address and
 *
 * - caps connections per client address (an IPv6 client per /64) and in
 *   all: over a cap it closes, at once, the oldest connection still waiting
 *   for its first request head (from that address, or from anyone for the
 *   global cap), else the oldest idle keep-alive connection (plain HTTP, no
 *   request in flight, nothing being written), else the new one;
 * - gives each connection `headTimeoutMs` to send a complete request head of
 *   at most `maxHeadBytes`, else closes it;
 * - then connects to the internal `Deno.serve` on loopback, forwards the
 *   head and proxies bytes both ways (WebSocket upgrades included) until
 *   either side closes;
 * - watches only where each response starts: the first bytes from upstream
 *   after client bytes. A response head `HTTP/1.x 101` (a WebSocket) or one
 *   with `content-type: text/event-stream` makes the connection a stream;
 *   any other connection stays plain HTTP, and on it a request, from its
 *   first byte (its head, for the first one) to the first byte of its
 *   response, may take at most `requestTimeoutMs`, as may one write of
 *   response bytes to a client that does not read them; and with no request
 *   in flight and nothing being written, `keepAliveTimeoutMs` without a byte
 *   either way closes it. So a dripped second request head or body is
 *   closed like a first one, without parsing request bytes;
 * - closes any connection (streams included) after `idleTimeoutMs` without
 *   a byte either way (live sockets and event streams carry heartbeats well
 *   within it);
 * - survives accept errors such as "Too many open files" by waiting and
 *   accepting again.
 *
 * The internal server learns the real client address from
 * {@link ConnectionGuard.clientOf}: the source port of each internal
 * connection maps to the client it carries. Internal connections that are
 * not in the map did not come through the guard.
 *
 * @module
 */
import { acceptLoop } from "./accept_loop.ts";
import { ConnectionTable } from "./conn_table.ts";
import { addressKey } from "./address.ts";
import { headEnd, readRequestHead } from "./request_head.ts";

/** Options of {@link ConnectionGuard.listen}. */
export interface ConnectionGuardOptions {
  hostname: string;
  port: number;
  /** Where the internal `Deno.serve` listens (read per connection). */
  upstream: () => Deno.NetAddr;
  /** Time a new connection has to send a complete request head. */
  headTimeoutMs: number;
  /** Largest request head accepted. */
  maxHeadBytes: number;
  /** Close a proxied connection after this long without a byte; 0: never. */
  idleTimeoutMs?: number;
  /**
   * Close a plain HTTP connection with no request in flight after this long
   * without a byte; 0: never.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Close a plain HTTP connection whose request got no response byte this
   * long after its first byte, or whose write of response bytes to the
   * client has been blocked this long; 0: never.
   */
  requestTimeoutMs?: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /**
   * Read buffers of {@link LARGE_PIPE_BUFFER} bytes that busy connections
   * share for their upstream bytes; default {@link LARGE_BUFFERS}, 0: none.
   */
  largeBuffers?: number;
  /**
   * After the upstream ended, how long (default {@link LINGER_MS}) and how
   * many client bytes (default {@link LINGER_BYTES}) the guard reads and
   * drops before it closes the connection.
   */
  lingerMs?: number;
  lingerBytes?: number;
  /** Called for events worth a log line. */
  onEvent?: (message: string, fields: Record<string, unknown>) => void;
  /** Called when an internal connection from `port` starts carrying `client`. */
  onMap?: (port: number, client: Deno.NetAddr) => void;
  /** Called before the internal connection from `port` is closed. */
  onUnmap?: (port: number) => void;
  /**
   * Where the counters live (at least {@link STATS_FIELDS}.length Int32
   * slots), e.g. shared memory read by another thread. Default: private.
   */
  counters?: Int32Array;
}

/** Order of the counters in {@link ConnectionGuardOptions.counters}. */
export const STATS_FIELDS = [
  "open",
  "pending",
  "refused",
  "headTimeouts",
  "headTooLarge",
  "acceptErrors",
  "idleTimeouts",
  "requestTimeouts",
] as const;

/** Read counters written by a guard (possibly on another thread). */
export function readStats(counters: Int32Array): GuardStats {
  const stats = {} as GuardStats;
  STATS_FIELDS.forEach((name, i) => stats[name] = Atomics.load(counters, i));
  return stats;
}

/** Counters of a {@link ConnectionGuard}. */
export interface GuardStats {
  /** Connections now open (waiting for a head or proxied). */
  open: number;
  /** Connections now waiting for their head. */
  pending: number;
  /** Closed because a cap was reached (new or evicted). */
  refused: number;
  /** Closed because no complete head came in time. */
  headTimeouts: number;
  /** Closed because the head was larger than allowed. */
  headTooLarge: number;
  /** Accept errors survived (e.g. EMFILE). */
  acceptErrors: number;
  /**
   * Proxied connections closed after `idleTimeoutMs` (or, plain HTTP ones
   * with no request in flight, `keepAliveTimeoutMs`) without a byte.
   */
  idleTimeouts: number;
  /** Plain HTTP connections closed after `requestTimeoutMs` (see there). */
  requestTimeouts: number;
}

interface Entry {
  client: Deno.Conn;
  upstream: Deno.Conn | null;
  addr: Deno.NetAddr;
  closed: boolean;
  /** `performance.now()` when a byte last moved either way. */
  lastActive: number;
  /** A WebSocket or event stream: only `idleTimeoutMs` applies. */
  stream: boolean;
  /**
   * `performance.now()` of the first client byte not yet answered by an
   * upstream byte (a request in flight); -1 when none.
   */
  requestSince: number;
  /** Writes in progress (either way). */
  writing: number;
  /** The start of a response head being collected, else null. */
  responseHead: Uint8Array | null;
}

/**
 * After the upstream ended, how long the guard keeps reading (and
 * dropping) client bytes before it closes the connection; see
 * {@link ConnectionGuard}'s `#proxy`.
 */
export const LINGER_MS = 2000;
/** How many client bytes the guard drops at most after the upstream ended. */
export const LINGER_BYTES = 4 * 1024 * 1024;

/** Bytes of a response's start examined for its kind. */
const RESPONSE_HEAD_MAX = 8 * 1024;

/**
 * Read buffer of one direction of a proxied connection: it starts at
 * {@link PIPE_BUFFER_MIN} and grows 4x, up to {@link PIPE_BUFFER}, each
 * time a read fills it. An idle socket (heartbeats, status messages) keeps
 * the small one; a busy one reaches full size after a few reads.
 */
export const PIPE_BUFFER_MIN = 2 * 1024;
/** Largest read buffer a direction of a proxied connection owns. */
export const PIPE_BUFFER = 32 * 1024;
/**
 * Size of the shared read buffers of a {@link BufferPool}: the upstream to
 * client direction of a connection, once a {@link PIPE_BUFFER} read came
 * back full, borrows one, so sustained output (128 KiB frames to every
 * dashboard) moves in a few large reads and writes instead of many 32 KiB
 * ones.
 */
export const LARGE_PIPE_BUFFER = 256 * 1024;
/**
 * Default of {@link ConnectionGuardOptions.largeBuffers}: at most 64
 * buffers of {@link LARGE_PIPE_BUFFER} (16 MiB) per guard.
 */
export const LARGE_BUFFERS = 64;

/** The buffer for the read after one that took `n` bytes into `buf`. */
export function nextPipeBuffer(
  buf: Uint8Array<ArrayBuffer>,
  n: number,
): Uint8Array<ArrayBuffer> {
  return n === buf.length && buf.length < PIPE_BUFFER
    ? new Uint8Array(Math.min(PIPE_BUFFER, buf.length * 4))
    : buf;
}

/**
 * At most `max` read buffers of `size` bytes, lent to busy pipes and
 * kept for reuse once returned (so memory stays at `max * size` at most,
 * and a burst does not allocate and fault in fresh pages per read). When
 * all are lent, a pipe goes on with its own {@link PIPE_BUFFER}.
 */
export class BufferPool {
  readonly size: number;
  readonly max: number;
  #free: Uint8Array<ArrayBuffer>[] = [];
  #lent = 0;
  #peak = 0;

  /** @throws {RangeError} for a size below 1 or a negative max. */
  constructor(size: number, max: number) {
    if (!(size >= 1)) throw new RangeError(`Invalid size "${size}"`);
    if (!(max >= 0)) throw new RangeError(`Invalid max "${max}"`);
    this.size = size;
    this.max = max;
  }

  /** Buffers lent now. */
  get lent(): number {
    return this.#lent;
  }

  /** Most buffers lent at once so far. */
  get peak(): number {
    return this.#peak;
  }

  /** A buffer to read into, or null when `max` are lent. */
  take(): Uint8Array<ArrayBuffer> | null {
    if (this.#lent >= this.max) return null;
    this.#peak = Math.max(this.#peak, ++this.#lent);
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /** Return a buffer from {@link take}; nothing may use it afterwards. */
  give(buf: Uint8Array<ArrayBuffer>): void {
    this.#lent--;
    this.#free.push(buf);
  }
}

/** A running guard; see the module doc. */
export class ConnectionGuard {
  readonly addr: Deno.NetAddr;
  #counters: Int32Array;
  #listener: Deno.TcpListener;
  #options: ConnectionGuardOptions;
  #table: ConnectionTable<Entry>;
  #byUpstreamPort = new Map<number, Deno.NetAddr>();
  #closing = false;
  #idleSweep: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void>;
  #tasks = new Set<Promise<unknown>>();
  #pool: BufferPool;

  private constructor(
    listener: Deno.TcpListener,
    options: ConnectionGuardOptions,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#pool = new BufferPool(
      LARGE_PIPE_BUFFER,
      options.largeBuffers ?? LARGE_BUFFERS,
    );
    this.addr = listener.addr;
    this.#counters = options.counters ??
      new Int32Array(STATS_FIELDS.length);
    this.#table = new ConnectionTable<Entry>({
      maxTotal: options.maxConnections,
      maxPerKey: options.maxConnectionsPerAddress,
      evictable: isKeepAliveIdle,
    });
    this.#loop = this.#acceptLoop();
    const limits = [
      options.idleTimeoutMs ?? 0,
      options.keepAliveTimeoutMs ?? 0,
      options.requestTimeoutMs ?? 0,
    ].filter((ms) => ms > 0);
    if (limits.length > 0) {
      this.#idleSweep = setInterval(
        () => this.#sweep(),
        Math.max(10, Math.floor(Math.min(...limits) / 4)),
      );
    }
  }

  /** Close connections past their idle, keep-alive or request time. */
  #sweep(): void {
    const now = performance.now();
    const idle = this.#options.idleTimeoutMs ?? 0;
    const keepAlive = this.#options.keepAliveTimeoutMs ?? 0;
    const request = this.#options.requestTimeoutMs ?? 0;
    for (const entry of this.#table.entries()) {
      if (this.#table.isPending(entry)) continue; // The head timer runs.
      const quiet = now - entry.lastActive;
      if (!entry.stream) {
        if (entry.requestSince >= 0) {
          if (request > 0 && now - entry.requestSince >= request) {
            this.#count("requestTimeouts");
            this.#close(entry);
            continue;
          }
        } else if (entry.writing === 0) {
          if (keepAlive > 0 && quiet >= keepAlive) {
            this.#count("idleTimeouts");
            this.#close(entry);
            continue;
          }
        } else if (request > 0 && quiet >= request) {
          // A response write blocked this long: the client does not read.
          this.#count("requestTimeouts");
          this.#close(entry);
          continue;
        }
      }
      if (idle > 0 && quiet >= idle) {
        this.#count("idleTimeouts");
        this.#close(entry);
      }
    }
  }

  /**
   * Listen on `options.hostname:options.port` and start accepting.
   *
   * @throws {RangeError} for caps or limits below 1, or a negative
   * `largeBuffers`.
   * @throws {Deno.errors.AddrInUse} when the address is taken.
   */
  static listen(options: ConnectionGuardOptions): ConnectionGuard {
    if (!((options.largeBuffers ?? 0) >= 0)) {
      throw new RangeError(`Invalid largeBuffers "${options.largeBuffers}"`);
    }
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
    const listener = Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
    });
    return new ConnectionGuard(listener, options);
  }

  /** Current counters. */
  get stats(): GuardStats {
    return readStats(this.#counters);
  }

  /**
   * Large read buffers ({@link LARGE_PIPE_BUFFER}) lent to connections
   * now, and the most lent at once so far.
   */
  get largeBuffers(): { lent: number; peak: number } {
    return { lent: this.#pool.lent, peak: this.#pool.peak };
  }

  #count(name: typeof STATS_FIELDS[number]): void {
    Atomics.add(this.#counters, STATS_FIELDS.indexOf(name), 1);
  }

  /** Publish the table's sizes after it changed. */
  #sync(): void {
    Atomics.store(this.#counters, 0, this.#table.size);
    Atomics.store(this.#counters, 1, this.#table.pendingCount);
  }

  /**
   * The client carried by an internal connection whose source is
   * `internal`, or undefined when that connection is not the guard's.
   */
  clientOf(internal: Deno.Addr): Deno.NetAddr | undefined {
    if (internal.transport !== "tcp") return undefined;
    if (!isLoopback(internal.hostname)) return undefined;
    return this.#byUpstreamPort.get(internal.port);
  }

  /** Stop accepting; open connections keep going. */
  stopAccepting(): void {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#idleSweep);
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Stop accepting and close connections still waiting for their head; give
   * proxied ones up to `graceMs` to end on their own (so that bytes the
   * server sent last, like WebSocket close frames, reach the client), then
   * close the rest.
   */
  async close(graceMs = 2000): Promise<void> {
    this.stopAccepting();
    await this.#loop;
    for (const entry of this.#table.entries()) {
      if (this.#table.isPending(entry)) this.#close(entry);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#tasks]),
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
    for (const entry of this.#table.entries()) this.#close(entry);
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
    const entry: Entry = {
      client: conn,
      upstream: null,
      addr,
      closed: false,
      lastActive: performance.now(),
      stream: false,
      requestSince: -1,
      writing: 0,
      responseHead: null,
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
    // The head, its timer and the internal connect (#open) are done before
    // the proxying starts, so an idle proxied connection holds none of them.
    const task = this.#open(entry)
      .then((upstream) => upstream ? this.#proxy(entry, upstream) : undefined)
      .finally(() => {
        this.#tasks.delete(task);
      });
    this.#tasks.add(task);
  }

  /**
   * Read the request head (within the head timeout), connect to the
   * internal server and forward the head to it; the internal connection,
   * or null when `entry` was closed instead.
   */
  async #open(entry: Entry): Promise<Deno.TcpConn | null> {
    const { client } = entry;
    let head: Uint8Array | "too-large" | null = null;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.#close(entry);
    }, this.#options.headTimeoutMs);
    try {
      head = await readRequestHead(
        (buf) => client.read(buf),
        this.#options.maxHeadBytes,
      );
      if (head === "too-large") this.#count("headTooLarge");
    } catch {
      // Reset, or closed by the timer or an eviction.
    } finally {
      clearTimeout(timer);
    }
    if (timedOut) this.#count("headTimeouts");
    if (!(head instanceof Uint8Array) || entry.closed) {
      this.#close(entry);
      return null;
    }
    // The first request is in flight from its head on.
    entry.requestSince = performance.now();
    this.#table.settle(entry);
    this.#sync();
    let upstream: Deno.TcpConn;
    try {
      const { hostname, port } = this.#options.upstream();
      upstream = await Deno.connect({ hostname, port, transport: "tcp" });
    } catch (error) {
      this.#options.onEvent?.("Internal connect failed", {
        error: String(error),
      });
      this.#close(entry);
      return null;
    }
    entry.upstream = upstream;
    // A proxy must not add Nagle delays to small writes (request/response
    // ping-pong over keep-alive otherwise waits for delayed ACKs).
    noDelay(upstream);
    noDelay(client);
    const port = (upstream.localAddr as Deno.NetAddr).port;
    this.#byUpstreamPort.set(port, entry.addr);
    this.#options.onMap?.(port, entry.addr);
    if (entry.closed) {
      this.#close(entry);
      return null;
    }
    try {
      await writeAll(upstream, head);
    } catch {
      this.#close(entry);
      return null;
    }
    return upstream;
  }

  /**
   * Copy bytes both ways between `entry`'s client and `upstream`; resolves
   * once the connection is closed.
   *
   * Client EOF is passed on as a half-close and the response finishes. When
   * the upstream ends (EOF, or a reset: it may close with client bytes
   * unread), everything it sent has been written to the client, which then
   * gets a FIN; its bytes are read and dropped until it closes too, for at
   * most `lingerMs` and `lingerBytes`, so that its kernel
   * never resets the connection (dropping those last bytes) because the
   * guard closed with client bytes unread. A failed write to the upstream
   * only turns the client's bytes into dropped ones: the upstream's last
   * bytes may still be on their way. Client errors close both sides.
   */
  async #proxy(entry: Entry, upstream: Deno.TcpConn): Promise<void> {
    const fromClient = {
      dropped: -1,
      limit: this.#options.lingerBytes ?? LINGER_BYTES,
    };
    const pool = this.#pool;
    const clientSide = pipe(
      entry.client,
      upstream,
      entry,
      true,
      pool,
      fromClient,
    )
      .then(
        () => {
          closeWriteQuietly(upstream);
          return true;
        },
        () => {
          this.#close(entry);
          return false;
        },
      );
    try {
      await pipe(upstream, entry.client, entry, false, pool);
    } catch (error) {
      if (!(error instanceof UpstreamError)) {
        this.#close(entry); // The client is gone.
        await clientSide;
        return;
      }
    }
    if (entry.closed) return void await clientSide;
    // The upstream is done and its bytes are written: end the client's
    // side cleanly and drop what it still sends, within bounds.
    closeWriteQuietly(entry.client);
    if (fromClient.dropped < 0) fromClient.dropped = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      clientSide,
      new Promise((resolve) =>
        timer = setTimeout(resolve, this.#options.lingerMs ?? LINGER_MS)
      ),
    ]);
    clearTimeout(timer);
    this.#close(entry);
    await clientSide;
  }

  #close(entry: Entry): void {
    if (entry.closed) return;
    entry.closed = true;
    this.#table.remove(entry);
    this.#sync();
    if (entry.upstream) {
      // Unmap first: once closed, the port may be reused by anyone.
      const port = (entry.upstream.localAddr as Deno.NetAddr).port;
      if (this.#byUpstreamPort.get(port) === entry.addr) {
        this.#byUpstreamPort.delete(port);
        this.#options.onUnmap?.(port);
      }
      closeQuietly(entry.upstream);
    }
    closeQuietly(entry.client);
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === "127.0.0.1" || hostname === "::1" ||
    hostname === "::ffff:127.0.0.1";
}

function noDelay(conn: Deno.Conn): void {
  try {
    (conn as Deno.TcpConn).setNoDelay(true);
  } catch {
    // Closed meanwhile.
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

function closeWriteQuietly(conn: Deno.Conn): void {
  conn.closeWrite().catch(() => {});
}

/** Write all of `bytes`, looping over partial writes. */
export async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Whether `entry` is an idle keep-alive connection (evictable). */
function isKeepAliveIdle(entry: Entry): boolean {
  return entry.upstream !== null && !entry.stream &&
    entry.requestSince < 0 && entry.writing === 0;
}

/** A read from the upstream failed (e.g. it reset the connection). */
class UpstreamError extends Error {}

/**
 * Copy `from` to `to` until `from` ends, noting activity on `entry`: client
 * bytes (`fromClient`) with no request in flight start one; upstream bytes
 * end it, and the first of them are examined for a stream's response head.
 * Past the start of a response nothing is parsed.
 *
 * Reads go into a buffer of this direction's own (see
 * {@link nextPipeBuffer}); upstream bytes, after a read that filled a
 * full-size one, into one borrowed from `pool` when it has one, until a
 * read takes at most a quarter of that (the burst is over) or the copy
 * ends. Client bytes keep their own buffer: read faster, a client's flood
 * after the upstream ended reaches `lingerBytes` (and the close)
 * before a client that reads slowly has the upstream's last bytes (the
 * flooding-client tests lost them in most runs).
 *
 * With `drop` (client to upstream only), a failed write to the upstream
 * does not end the copy: from then on (or once the caller sets
 * `drop.dropped` to 0) bytes read are counted in `drop.dropped` and
 * dropped, and the copy ends past `drop.limit` of them. A failed
 * read of the upstream rejects with an {@link UpstreamError}.
 */
async function pipe(
  from: Deno.Conn,
  to: Deno.Conn,
  entry: Entry,
  fromClient: boolean,
  pool: BufferPool,
  drop?: { dropped: number; limit: number },
): Promise<void> {
  let own = new Uint8Array(PIPE_BUFFER_MIN);
  let large: Uint8Array<ArrayBuffer> | null = null;
  try {
    for (;;) {
      const buf = large ?? own;
      let n: number | null;
      try {
        n = await from.read(buf);
      } catch (error) {
        if (fromClient) throw error;
        throw new UpstreamError(String(error));
      }
      if (n === null) return;
      const now = performance.now();
      entry.lastActive = now;
      if (drop && drop.dropped >= 0) {
        drop.dropped += n;
        if (drop.dropped > drop.limit) return;
        // Dropped bytes need no speed: reading them in large pieces would
        // only reach the limit (and the close) sooner.
        if (large) {
          pool.give(large);
          large = null;
        }
        continue;
      }
      if (!entry.stream) {
        if (fromClient) {
          if (entry.requestSince < 0) entry.requestSince = now;
        } else if (entry.requestSince >= 0 || entry.responseHead !== null) {
          watchResponse(entry, buf.subarray(0, n));
        }
      }
      entry.writing++;
      try {
        const chunk = buf.subarray(0, n);
        const written = await to.write(chunk);
        if (written < n) await writeAll(to, chunk.subarray(written));
      } catch (error) {
        if (!drop) throw error;
        drop.dropped = 0; // The upstream is gone; its last bytes may not be.
      } finally {
        entry.writing--;
      }
      entry.lastActive = performance.now();
      // After the write: `watchResponse` may hold a view of this buffer only
      // until it returns.
      if (large) {
        if (n <= large.length / 4) {
          pool.give(large);
          large = null;
        }
      } else if (
        n === own.length && own.length === PIPE_BUFFER && !fromClient
      ) {
        large = pool.take();
      } else {
        own = nextPipeBuffer(own, n);
      }
    }
  } finally {
    if (large) pool.give(large);
  }
}

/**
 * Note upstream bytes on a plain HTTP connection: they end the request in
 * flight, and while a response head is incomplete (at most
 * {@link RESPONSE_HEAD_MAX} bytes) they are collected; a complete one that
 * upgrades or starts an event stream marks the connection a stream.
 */
function watchResponse(entry: Entry, chunk: Uint8Array): void {
  let head: Uint8Array;
  if (entry.requestSince >= 0) {
    entry.requestSince = -1;
    // A view for now: the buffer is reused, so it is copied below only
    // when the head continues in a later chunk.
    head = chunk.subarray(0, RESPONSE_HEAD_MAX);
  } else {
    const old = entry.responseHead!;
    const room = RESPONSE_HEAD_MAX - old.length;
    head = new Uint8Array(old.length + Math.min(room, chunk.length));
    head.set(old);
    head.set(chunk.subarray(0, room), old.length);
  }
  const end = headEnd(head);
  if (end < 0 && head.length < RESPONSE_HEAD_MAX) {
    entry.responseHead = head.slice();
    return;
  }
  entry.responseHead = null;
  if (isStreamHead(head.subarray(0, end < 0 ? head.length : end))) {
    entry.stream = true;
  }
}

/** Whether a response head switches protocols or starts an event stream. */
export function isStreamHead(head: Uint8Array): boolean {
  const text = new TextDecoder("latin1").decode(head);
  return /^HTTP\/1\.[01] 101 /.test(text) ||
    /\ncontent-type:[ \t]*text\/event-stream/i.test(text);
}
