/**
 * Transports of the dashboard client: the interface {@link DashboardClient}
 * drives (WebSocket or the SSE + POST fallback), the WebSocket one, default
 * timers and URL helpers.
 * @module
 */
import type { FromDashboard } from "../protocol.ts";
import type {
  SocketConstructor,
  SocketLike,
  Timers,
  TransportKind,
} from "./socket_types.ts";

/** What a transport reports to its owner. */
export interface TransportEvents {
  /**
   * Ready to send. WebSocket: the socket opened. SSE: a `connection:ack`
   * with a new connection id arrived (again for every new server session).
   */
  open(): void;
  /** One server message, as the JSON text of one envelope. */
  message(data: string): void;
  /** Closed for good; the owner decides whether and how to reconnect. */
  close(code: number, reason: string): void;
}

/** One connection to the server, whichever the carrier. */
export interface Transport {
  readonly kind: TransportKind;
  /** Whether {@link send} delivers now. */
  readonly isOpen: boolean;
  /** Send one message (serialized here); dropped while not open. */
  send(message: FromDashboard): void;
  /** Close without reporting a close event; idempotent. */
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

/** Timers and clock of the running environment. */
export const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as number),
  now: () => Date.now(),
};

/** The default socket URL for the current page. */
export function dashboardSocketUrl(loc: { protocol: string; host: string }) {
  return `${
    loc.protocol === "https:" ? "wss" : "ws"
  }://${loc.host}/ws/dashboard`;
}

/**
 * The http(s) URL of `path` on the host of WebSocket URL `wsUrl`, e.g.
 * `ws://h:1/ws/dashboard` + `/api/events` → `http://h:1/api/events`.
 */
export function httpUrlFor(wsUrl: string, path: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = path;
  url.search = url.hash = "";
  return url.href;
}

/** A {@link Transport} over one WebSocket. */
export class WebSocketTransport implements Transport {
  readonly kind = "websocket";
  #ws: SocketLike | null;
  #opened = false;

  /** Opens the socket; throws when the constructor does. */
  constructor(Ctor: SocketConstructor, url: string, events: TransportEvents) {
    const ws = new Ctor(url);
    this.#ws = ws;
    ws.onopen = () => {
      this.#opened = true;
      events.open();
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") events.message(event.data);
    };
    ws.onclose = (event) => {
      this.#detach();
      events.close(event.code, event.reason);
    };
    ws.onerror = () => {};
  }

  get isOpen(): boolean {
    return this.#ws !== null && this.#opened && this.#ws.readyState === OPEN;
  }

  send(message: FromDashboard): void {
    if (this.isOpen) this.#ws!.send(JSON.stringify(message));
  }

  close(code = 1000, reason = "client closing"): void {
    const ws = this.#detach();
    if (ws && ws.readyState <= OPEN) ws.close(code, reason);
  }

  #detach(): SocketLike | null {
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen =
        ws.onmessage =
        ws.onerror =
        ws.onclose =
          null;
    }
    return ws;
  }
}

/**
 * While on the SSE fallback: every `intervalMs`, a fresh WebSocket attempt
 * (the previous one, if still unacknowledged, is closed). The owner routes
 * the probe's events and {@link take}s it once it is acknowledged.
 */
export class WebSocketProbe {
  /** The probe in flight, if any. */
  current: Transport | null = null;
  #timer: unknown = null;
  #timers: Timers;
  #intervalMs: number;
  #create: () => Transport;

  /** `create` opens one WebSocket transport. */
  constructor(timers: Timers, intervalMs: number, create: () => Transport) {
    this.#timers = timers;
    this.#intervalMs = intervalMs;
    this.#create = create;
  }

  /** Start probing (no-op when already running or the interval is 0). */
  start(): void {
    if (this.#timer !== null || this.#intervalMs <= 0) return;
    this.#timer = this.#timers.setInterval(() => {
      this.current?.close();
      this.current = null;
      try {
        this.current = this.#create();
      } catch {
        this.current = null;
      }
    }, this.#intervalMs);
  }

  /** Stop probing and hand over the current probe (left open). */
  take(): Transport | null {
    const t = this.current;
    this.current = null;
    this.stop();
    return t;
  }

  /** Stop probing and close the probe in flight. */
  stop(): void {
    if (this.#timer !== null) this.#timers.clearInterval(this.#timer);
    this.#timer = null;
    this.current?.close();
    this.current = null;
  }
}
