/**
 * A light WebSocket client inside the harness process of `deno task bench`
 * (for the 64 B hop and the command round trip): keeps every frame parsed,
 * wakes waiters on each one. No schema checks, so both ends of a hop cost
 * Flightdeck and the relays the same.
 *
 * @module
 */

/** Deno's WebSocket accepts headers; the DOM typings do not say so. */
const WebSocketWithHeaders = WebSocket as unknown as new (
  url: string,
  options: { headers: Record<string, string> },
) => WebSocket;

/** A parsed frame. */
// deno-lint-ignore no-explicit-any -- frames of both Flightdeck and relays
export type Frame = any;

/** One socket with its received frames. */
export class Wire {
  readonly socket: WebSocket;
  readonly frames: Frame[] = [];
  #waiters = new Set<() => void>();
  closed = false;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (event) => {
      this.frames.push(JSON.parse(String(event.data)));
      for (const waiter of [...this.#waiters]) waiter();
    };
    socket.onclose = () => {
      this.closed = true;
      for (const waiter of [...this.#waiters]) waiter();
    };
  }

  /** Open `url` (with a Bearer `token`) and wait until it is open. */
  static async open(url: string, token?: string): Promise<Wire> {
    const socket = new WebSocketWithHeaders(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    return new Wire(socket);
  }

  /** Send `value` as JSON. */
  send(value: unknown): void {
    this.socket.send(JSON.stringify(value));
  }

  /** Send a Flightdeck envelope. */
  sendMessage(type: string, payload: unknown, id?: string): void {
    this.send({
      version: "1.0.0",
      type,
      ...(id ? { id } : {}),
      timestamp: Date.now(),
      payload,
    });
  }

  /** The first frame from index `from` on that matches; rejects after `timeoutMs`. */
  waitFor(
    match: (frame: Frame) => boolean,
    timeoutMs = 10_000,
    from = 0,
  ): Promise<Frame> {
    return new Promise((resolve, reject) => {
      let checked = from;
      const check = () => {
        for (; checked < this.frames.length; checked++) {
          if (match(this.frames[checked])) {
            done();
            return resolve(this.frames[checked]);
          }
        }
        if (this.closed) {
          done();
          reject(new Error("Socket closed while waiting"));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`No matching frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Close and wait for the close. */
  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise((resolve) =>
      this.socket.addEventListener("close", resolve)
    );
    this.socket.close(1000);
    await closed;
  }
}
