/**
 * A loopback TCP proxy for fault injection: listens on 127.0.0.1 port 0 and
 * forwards every connection to `target`. `cut()` closes every connection now,
 * `block(ms)` refuses new connections for a while (accept, then close at
 * once), `blackhole()` keeps connections open but forwards nothing in either
 * direction (a vanished network) until `restore()`. `throttle(bytesPerSecond)`
 * paces each direction of each connection to that rate (a slow link).
 * Given several target ports, each new connection goes to the next one in
 * turn (round robin, like a load balancer without sticky sessions or health
 * checks: a connection to a dead target is closed at once).
 *
 * @module
 */

interface Pair {
  client: Deno.TcpConn;
  upstream: Deno.TcpConn | null;
  closed: boolean;
}

/** A forwarding proxy to `127.0.0.1:<targetPort>`. */
export class TcpProxy {
  readonly port: number;
  readonly url: string;
  readonly wsUrl: string;
  /** Connections accepted so far (refused ones included). */
  accepted = 0;
  /** Connections refused while blocked. */
  refused = 0;
  /** The target port each forwarded connection went to, in accept order. */
  readonly upstreams: number[] = [];
  #listener: Deno.TcpListener;
  #targets: number[];
  #next = 0;
  #pairs = new Set<Pair>();
  #blockedUntil = 0;
  #blackholed = false;
  /** Bytes per second per direction of each connection; 0: unthrottled. */
  #rate = 0;
  #resume: (() => void)[] = [];
  #closed = false;
  #acceptLoop: Promise<void>;
  #tasks = new Set<Promise<void>>();

  constructor(target: number | number[]) {
    this.#targets = Array.isArray(target) ? [...target] : [target];
    if (this.#targets.length === 0) throw new RangeError("No target port");
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.url = `http://127.0.0.1:${this.port}`;
    this.wsUrl = `ws://127.0.0.1:${this.port}`;
    this.#acceptLoop = this.#accept();
  }

  /** Open connections right now. */
  get connections(): number {
    return this.#pairs.size;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // Listener closed.
      }
      this.accepted++;
      if (this.#closed || Date.now() < this.#blockedUntil) {
        this.refused++;
        try {
          conn.close();
        } catch {
          // Already closed.
        }
        continue;
      }
      this.#track(this.#serve(conn));
    }
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  async #serve(client: Deno.TcpConn): Promise<void> {
    const pair: Pair = { client, upstream: null, closed: false };
    this.#pairs.add(pair);
    const port = this.#targets[this.#next++ % this.#targets.length];
    this.upstreams.push(port);
    try {
      pair.upstream = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      this.#closePair(pair);
      return;
    }
    if (pair.closed) {
      this.#closePair(pair);
      return;
    }
    await Promise.all([
      this.#pipe(pair, client, pair.upstream),
      this.#pipe(pair, pair.upstream, client),
    ]);
  }

  async #pipe(pair: Pair, from: Deno.TcpConn, to: Deno.TcpConn) {
    const buffer = new Uint8Array(64 * 1024);
    // When the bytes forwarded so far may have left at the throttled rate.
    let due = performance.now();
    try {
      for (;;) {
        // Under a throttle, read at most 1/50 s worth at a time so the
        // pacing stays smooth.
        const room = this.#rate > 0
          ? Math.max(1, Math.min(buffer.length, Math.floor(this.#rate / 50)))
          : buffer.length;
        const n = await from.read(buffer.subarray(0, room));
        if (n === null || pair.closed) break;
        while (this.#blackholed && !pair.closed) {
          await new Promise<void>((r) => this.#resume.push(r));
        }
        if (pair.closed) break;
        if (this.#rate > 0) {
          due = Math.max(due, performance.now()) + (n / this.#rate) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        let written = 0;
        while (written < n) {
          written += await to.write(buffer.subarray(written, n));
        }
      }
    } catch {
      // Either side went away.
    }
    this.#closePair(pair);
  }

  #closePair(pair: Pair): void {
    if (!pair.closed) pair.closed = true;
    this.#pairs.delete(pair);
    for (const conn of [pair.client, pair.upstream]) {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
    }
  }

  /** Close every open connection now (both sides see the TCP close). */
  cut(): number {
    const n = this.#pairs.size;
    for (const pair of [...this.#pairs]) this.#closePair(pair);
    this.#wakePipes();
    return n;
  }

  /** Refuse new connections for `ms` (accepted and closed at once). */
  block(ms: number): void {
    this.#blockedUntil = Date.now() + ms;
  }

  /**
   * Pace each direction of every connection to `bytesPerSecond` (0 or
   * less: as fast as it goes), like a slow link.
   */
  throttle(bytesPerSecond: number): void {
    this.#rate = Math.max(0, bytesPerSecond);
  }

  /** Stop forwarding bytes in both directions; connections stay open. */
  blackhole(): void {
    this.#blackholed = true;
  }

  /** Forward again after {@link blackhole}. */
  restore(): void {
    this.#blackholed = false;
    this.#wakePipes();
  }

  #wakePipes(): void {
    const waiting = this.#resume.splice(0);
    for (const resolve of waiting) resolve();
  }

  /** Stop listening, close every connection and wait for the tasks. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    this.#blackholed = false;
    this.cut();
    await this.#acceptLoop;
    await Promise.allSettled([...this.#tasks]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
