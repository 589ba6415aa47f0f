/**
 * The dashboard's one WebSocket connection: connects to `/ws/dashboard`,
 * validates every frame with {@link parseServerMessage}, dispatches by `type`
 * through one handler registry, keeps the link alive with heartbeats and
 * reconnects with backoff (PROTOCOL.md).
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import {
  type DashboardPayloads,
  envelope,
  parseServerMessage,
  type PayloadOf,
  shouldReconnect,
} from "../protocol.ts";
import { Backoff } from "./backoff.ts";

import type {
  ConnectionInfo,
  DashboardClientOptions,
  DashboardMessageType,
  MessageClient,
  ServerMessageOf,
  ServerMessageType,
  SocketConstructor,
  SocketLike,
  StopReason,
  Timers,
} from "./socket_types.ts";

export type {
  ConnectionInfo,
  ConnectionState,
  DashboardClientOptions,
  DashboardMessageType,
  MessageClient,
  ServerMessageOf,
  ServerMessageType,
  SocketConstructor,
  SocketLike,
  StopReason,
  Timers,
} from "./socket_types.ts";

const OPEN = 1;
const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as number),
  now: () => Date.now(),
};
let idCounter = 0;

/** The default socket URL for the current page. */
export function dashboardSocketUrl(loc: { protocol: string; host: string }) {
  return `${
    loc.protocol === "https:" ? "wss" : "ws"
  }://${loc.host}/ws/dashboard`;
}

/**
 * One shared dashboard connection with reconnect, heartbeats and a typed
 * message-handler registry.
 *
 * @example
 * ```ts
 * const client = new DashboardClient();
 * const off = client.on("agent:status", (m) => render(m.payload.agent));
 * client.start();
 * ```
 */
export class DashboardClient implements MessageClient {
  /** Live connection state for the UI. */
  readonly connection: Signal<ConnectionInfo> = signal({
    state: "offline",
    attempt: 0,
    nextRetryAt: null,
    lastError: null,
    stopReason: null,
  });
  #opts: Required<Omit<DashboardClientOptions, "url" | "WebSocket">>;
  #url: string | undefined;
  #Ctor: SocketConstructor | undefined;
  #handlers = new Map<string, Set<(message: never) => void>>();
  #backoff: Backoff;
  #ws: SocketLike | null = null;
  #wasOpen = false;
  #failures = 0;
  #retryTimer: unknown = null;
  #heartbeatTimer: unknown = null;
  #lastFrameAt = 0;
  #sequence = 0;
  #started = false;

  /** Create a client; nothing connects until {@link start}. */
  constructor(options: DashboardClientOptions = {}) {
    const timers = options.timers ?? defaultTimers;
    this.#opts = {
      timers,
      random: options.random ?? Math.random,
      resume: options.resume ?? (() => ({})),
      clientInfo: options.clientInfo ?? {},
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1500,
      deadAfterMs: options.deadAfterMs ?? 5000,
      maxFailures: options.maxFailures ?? 5,
      onHandlerError: options.onHandlerError ??
        ((error) => globalThis.reportError?.(error)),
    };
    this.#url = options.url;
    this.#Ctor = options.WebSocket;
    this.#backoff = new Backoff({
      now: () => timers.now(),
      random: this.#opts.random,
    });
  }

  /** Whether the socket is open and frames can be sent. */
  get isOpen(): boolean {
    return this.#ws !== null && this.#wasOpen && this.#ws.readyState === OPEN;
  }

  /** Connect once; later calls do nothing. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#connect("connecting");
  }

  /** Manual reconnect (e.g. the "Reconnect" button): resets the schedule. */
  reconnect(): void {
    this.#started = true;
    this.#teardown();
    this.#failures = 0;
    this.#backoff.reset();
    this.#connect("connecting");
  }

  /** Close for good (no retry) and go offline. */
  stop(): void {
    this.#teardown();
    this.#started = false;
    this.#setState({
      state: "offline",
      nextRetryAt: null,
      stopReason: "closed",
    });
  }

  /** Register `handler` for messages of `type`; returns its unsubscribe. */
  on<K extends ServerMessageType>(
    type: K,
    handler: (message: ServerMessageOf<K>) => void,
  ): () => void {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, set = new Set());
    const entry = handler as (message: never) => void;
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.#handlers.get(type) === set) {
        this.#handlers.delete(type);
      }
    };
  }

  /**
   * Send one message; returns the envelope id used (generated when omitted).
   * While the socket is not open the message is dropped: callers check
   * {@link isOpen} or the `connection` signal first.
   */
  send<K extends DashboardMessageType>(
    type: K,
    payload: PayloadOf<typeof DashboardPayloads, K>,
    id?: string,
  ): string {
    const used = id ??
      `d-${Date.now().toString(36)}-${(++idCounter).toString(36)}`;
    if (this.isOpen) {
      this.#ws!.send(JSON.stringify(envelope(type, payload, used)));
    }
    return used;
  }

  #setState(patch: Partial<ConnectionInfo>): void {
    this.connection.value = { ...this.connection.value, ...patch };
  }

  #connect(state: "connecting" | "reconnecting"): void {
    this.#retryTimer = null;
    this.#wasOpen = false;
    this.#setState({ state, nextRetryAt: null, stopReason: null });
    const Ctor = this.#Ctor ??
      (globalThis.WebSocket as unknown as SocketConstructor);
    const url = this.#url ?? dashboardSocketUrl(globalThis.location);
    let ws: SocketLike;
    try {
      ws = new Ctor(url);
    } catch (error) {
      this.#ws = null;
      this.#closed(
        1006,
        error instanceof Error ? error.message : "cannot connect",
      );
      return;
    }
    this.#ws = ws;
    ws.onopen = () => this.#opened();
    ws.onmessage = (event) => this.#received(event.data);
    ws.onclose = (event) => this.#closed(event.code, event.reason);
    ws.onerror = () => {};
  }

  #opened(): void {
    const { timers } = this.#opts;
    this.#wasOpen = true;
    this.#failures = 0;
    this.#backoff.opened();
    this.#lastFrameAt = timers.now();
    this.#setState({ state: "connected", nextRetryAt: null, lastError: null });
    this.send("dashboard:connect", {
      clientInfo: this.#opts.clientInfo,
      resume: this.#opts.resume(),
    });
    this.#heartbeatTimer = timers.setInterval(
      () => this.#beat(),
      this.#opts.heartbeatIntervalMs,
    );
  }

  #beat(): void {
    if (this.#opts.timers.now() - this.#lastFrameAt >= this.#opts.deadAfterMs) {
      // Silence: the link is dead even if the browser has not noticed yet.
      this.#ws?.close(4408, "heartbeat timeout");
      this.#closed(4408, "no answer from the server");
      return;
    }
    this.send("heartbeat", { sequence: ++this.#sequence });
  }

  #received(data: unknown): void {
    this.#lastFrameAt = this.#opts.timers.now();
    if (typeof data !== "string") return;
    const parsed = parseServerMessage(data);
    if (!parsed.ok) return; // Invalid frames are ignored; the server is the authority.
    const set = this.#handlers.get(parsed.message.type);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(parsed.message as never);
      } catch (error) {
        this.#opts.onHandlerError(error);
      }
    }
  }

  /** Detach from the current socket and cancel every timer. */
  #teardown(): void {
    const { timers } = this.#opts;
    if (this.#heartbeatTimer !== null) {
      timers.clearInterval(this.#heartbeatTimer);
    }
    if (this.#retryTimer !== null) timers.clearTimeout(this.#retryTimer);
    this.#heartbeatTimer = this.#retryTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onopen =
        ws.onmessage =
        ws.onerror =
        ws.onclose =
          null;
      if (ws.readyState <= OPEN) ws.close(1000, "client closing");
    }
  }

  #closed(code: number, reason: string): void {
    const wasOpen = this.#wasOpen;
    const ws = this.#ws;
    if (ws) {
      ws.onopen =
        ws.onmessage =
        ws.onerror =
        ws.onclose =
          null;
    }
    this.#ws = null;
    this.#wasOpen = false;
    if (this.#heartbeatTimer !== null) {
      this.#opts.timers.clearInterval(this.#heartbeatTimer);
      this.#heartbeatTimer = null;
    }
    this.#backoff.closed();
    if (!wasOpen) this.#failures++;
    if (code === 4401) {
      return this.#giveUp("signed-out", "signed out — log in again");
    }
    if (code === 4403) {
      return this.#giveUp("forbidden", "forbidden (origin or role)");
    }
    if (!shouldReconnect(code)) {
      return this.#giveUp(
        "closed",
        `closed by the server (${code}${reason ? `: ${reason}` : ""})`,
      );
    }
    const lastError = `connection lost (${code}${reason ? `: ${reason}` : ""})`;
    if (this.#failures >= this.#opts.maxFailures) {
      return this.#giveUp(
        "failures",
        `${lastError}; gave up after ${this.#failures} attempts`,
      );
    }
    const delay = this.#backoff.next();
    const { timers } = this.#opts;
    this.#setState({
      state: "reconnecting",
      attempt: this.#backoff.attempt,
      nextRetryAt: timers.now() + delay,
      lastError,
    });
    this.#retryTimer = timers.setTimeout(
      () => this.#connect("reconnecting"),
      delay,
    );
  }

  #giveUp(stopReason: StopReason, lastError: string): void {
    this.#setState({
      state: "offline",
      nextRetryAt: null,
      lastError,
      stopReason,
    });
  }
}
