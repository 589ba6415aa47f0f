/**
 * The fallback transport: Server-Sent Events from `GET /api/events` for
 * server → dashboard, `POST /api/messages` for dashboard → server (for
 * proxies that block WebSocket upgrades). See docs/protocol.md.
 * @module
 */
import {
  type FromDashboard,
  ServerToDashboardPayloads,
  toDashboard,
} from "../protocol.ts";
import type { Transport, TransportEvents } from "./transport.ts";
import type {
  EventSourceConstructor,
  EventSourceLike,
  FetchLike,
} from "./socket_types.ts";

const CLOSED = 2;

/** Options of {@link SseTransport}. */
export interface SseTransportOptions {
  EventSource: EventSourceConstructor;
  fetch: FetchLike;
  eventsUrl: string;
  messagesUrl: string;
}

/** The `connectionId` of a `connection:ack` frame, or null for other frames. */
export function ackConnectionId(data: string): string | null {
  if (!data.includes('"connection:ack"')) return null;
  try {
    const message = JSON.parse(data);
    const id = message?.payload?.connectionId;
    return message?.type === "connection:ack" && typeof id === "string"
      ? id
      : null;
  } catch {
    return null;
  }
}

/**
 * SSE + POST as one {@link Transport}. The EventSource reconnects by itself
 * (with `Last-Event-ID`); a `connection:ack` with a new id means a new server
 * session and reports `open` again. A POST answered 404 (unknown connection)
 * replaces the EventSource; 401/403 close like 4401/4403; a 4xx with an
 * `{error}` body is delivered as an `error` message.
 */
export class SseTransport implements Transport {
  readonly kind = "sse";
  #opts: SseTransportOptions;
  #events: TransportEvents;
  #es: EventSourceLike | null = null;
  #connectionId: string | null = null;
  #abort = new AbortController();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  /** Opens the event stream; throws when the EventSource constructor does. */
  constructor(options: SseTransportOptions, events: TransportEvents) {
    this.#opts = options;
    this.#events = events;
    this.#openStream();
  }

  get isOpen(): boolean {
    return !this.#closed && this.#connectionId !== null;
  }

  /** The server's id of the current SSE session, or null before the ack. */
  get connectionId(): string | null {
    return this.#connectionId;
  }

  /** POST one message; POSTs go out one after another, in order. */
  send(message: FromDashboard): void {
    const connectionId = this.#connectionId;
    if (this.#closed || connectionId === null) return;
    const frame = JSON.stringify(message);
    this.#queue = this.#queue.then(() => this.#post(connectionId, frame))
      .catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connectionId = null;
    this.#abort.abort();
    this.#closeStream();
  }

  #openStream(): void {
    this.#connectionId = null;
    const es = new this.#opts.EventSource(this.#opts.eventsUrl, {
      withCredentials: true,
    });
    this.#es = es;
    es.onmessage = (event) => {
      if (this.#es === es && typeof event.data === "string") {
        this.#received(event.data);
      }
    };
    es.onerror = () => {
      if (this.#es !== es) return;
      // Before the ack the stream never worked; after it, the browser
      // retries by itself unless it gave up (CLOSED).
      if (this.#connectionId === null || es.readyState === CLOSED) {
        this.#fail(1006, "event stream failed");
      }
    };
  }

  #closeStream(): void {
    const es = this.#es;
    this.#es = null;
    if (es) {
      es.onopen = es.onmessage = es.onerror = null;
      es.close();
    }
  }

  #received(data: string): void {
    const ackId = ackConnectionId(data);
    if (ackId !== null && ackId !== this.#connectionId) {
      this.#connectionId = ackId;
      this.#events.open();
      if (this.#closed) return;
    }
    this.#events.message(data);
  }

  async #post(connectionId: string, frame: string): Promise<void> {
    // A frame for a session that is gone is dropped: a new session starts
    // with dashboard:connect and the resend of pending requests.
    if (this.#closed || connectionId !== this.#connectionId) return;
    let status: number;
    let body = "";
    try {
      const response = await this.#opts.fetch(this.#opts.messagesUrl, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-Flightdeck-Connection": connectionId,
        },
        body: frame,
        credentials: "same-origin",
        signal: this.#abort.signal,
      });
      status = response.status;
      body = await response.text().catch(() => "");
    } catch {
      return; // Network trouble: the event stream notices it too.
    }
    if (this.#closed || status < 300) return;
    if (status === 401) return this.#fail(4401, "not signed in");
    if (status === 403) return this.#fail(4403, "forbidden");
    if (status === 404) {
      if (connectionId === this.#connectionId) {
        this.#closeStream();
        this.#openStream();
      }
      return;
    }
    let error: unknown;
    try {
      error = JSON.parse(body)?.error;
    } catch {
      return;
    }
    // Delivered like a received `error` message when it is one.
    const payload = ServerToDashboardPayloads.error.safeParse(error);
    if (payload.success) {
      this.#events.message(JSON.stringify(toDashboard("error", payload.data)));
    }
  }

  #fail(code: number, reason: string): void {
    if (this.#closed) return;
    this.close();
    this.#events.close(code, reason);
  }
}
