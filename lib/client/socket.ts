/**
 * The dashboard's one connection to the server: a WebSocket to
 * `/ws/dashboard`, or the SSE + POST fallback (`/api/events`,
 * `/api/messages`) after {@link DashboardClientOptions.fallbackAfter}
 * WebSocket attempts in a row never opened. Every message is validated with
 * {@link parseServerMessage} and dispatched by `type` through one handler
 * registry; heartbeats keep the link alive, reconnects follow the backoff of
 * docs/protocol.md and never give up on network trouble (each wait at most
 * 30 s; {@link DashboardClient.retryNow} skips it), `command:request`s are
 * resent until answered (same id, so the server runs them once), and while
 * on SSE the WebSocket is probed every 30 s and taken back as soon as it
 * works.
 *
 * Works in Deno too (no `location`, `document` or `requestAnimationFrame`
 * when `url` is given), e.g. for tests that run several dashboards in one
 * process:
 *
 * ```ts
 * import { DashboardClient } from "./lib/client/socket.ts";
 * import { bindStores, createStores } from "./lib/client/stores.ts";
 *
 * // Deno's WebSocket takes headers (the DOM typings do not say so).
 * const WebSocketWithHeaders = WebSocket as unknown as new (
 *   url: string,
 *   options: { headers: Record<string, string> },
 * ) => WebSocket;
 * class BearerSocket {
 *   constructor(url: string) {
 *     const headers = { authorization: `Bearer ${token}` };
 *     return new WebSocketWithHeaders(url, { headers });
 *   }
 * }
 * const stores = createStores({
 *   maxCachedBytesPerCommand: Infinity, // keep whole outputs
 *   maxCachedCommands: Infinity,
 *   maxCachedBytes: Infinity,
 * });
 * const client = new DashboardClient({
 *   url: `ws://127.0.0.1:${port}/ws/dashboard`,
 *   WebSocket: BearerSocket as unknown as SocketConstructor,
 *   EventSource: null, // no SSE fallback (the default under Deno anyway)
 *   resume: () => resumeMap(stores),
 * });
 * bindStores(stores, client);
 * let frames = 0;
 * client.onMessage(() => frames++);
 * client.start();
 * // ... later:
 * const text = stores.output.fullText(commandId); // all output as one string
 * stores.output.receivedBytes(commandId); // compare with CommandInfo.outputBytes
 * client.stop(); // closes the transport and clears every timer
 * ```
 *
 * Under Deno the SSE fallback is off unless an `EventSource` is passed.
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import {
  type DashboardPayloads,
  type FromDashboard,
  fromDashboard,
  parseServerMessage,
  type PayloadOf,
} from "../protocol.ts";
import { HandlerRegistry } from "./handler_registry.ts";
import { PendingRequests } from "./pending_requests.ts";
import { ReconnectPolicy } from "./reconnect_policy.ts";
import {
  fallbackEventSource,
  openTransport,
  sessionRefresher,
} from "./open_transport.ts";
import { ackConnectionId } from "./sse_transport.ts";
import {
  defaultTimers,
  type Transport,
  type TransportEvents,
  WebSocketProbe,
} from "./transport.ts";
import type {
  ConnectionInfo,
  DashboardClientOptions,
  DashboardMessageType,
  MessageClient,
  PendingRequest,
  Timers,
  TransportKind,
} from "./socket_types.ts";

export type * from "./socket_types.ts";
export { dashboardSocketUrl } from "./transport.ts";

let idCounter = 0;

/**
 * One shared dashboard connection with reconnect, heartbeats, the SSE
 * fallback, exactly-once command requests and a typed handler registry.
 *
 * @example
 * ```ts
 * const client = new DashboardClient();
 * const off = client.on("agent:status", (m) => render(m.payload.agent));
 * client.start();
 * ```
 */
export class DashboardClient extends HandlerRegistry implements MessageClient {
  /** Live connection state for the UI. */
  readonly connection: Signal<ConnectionInfo> = signal({
    state: "offline",
    attempt: 0,
    nextRetryAt: null,
    lastError: null,
    stopReason: null,
    transport: "websocket",
  });
  #o: DashboardClientOptions;
  #timers: Timers;
  #pending: PendingRequests;
  #policy: ReconnectPolicy;
  #transport: Transport | null = null;
  #probe: WebSocketProbe;
  #wasOpen = false;
  #retryTimer: unknown = null;
  #heartbeatTimer: unknown = null;
  #connectTimer: unknown = null;
  #lastFrameAt = 0;
  /** When the heartbeat timer last ran (or was set), and its period. */
  #lastBeatAt = 0;
  #beatIntervalMs = 0;
  #sequence = 0;
  #started = false;
  #refreshTimer: unknown = null;
  /** Expiry last announced by the server, to notice a token that cannot be renewed. */
  #expiresAt: number | null = null;

  /** Create a client; nothing connects until {@link start}. */
  constructor(options: DashboardClientOptions = {}) {
    super();
    this.#o = options;
    const timers = this.#timers = options.timers ?? defaultTimers;
    if (options.onHandlerError) this.onHandlerError = options.onHandlerError;
    this.#pending = new PendingRequests(
      () => timers.now(),
      options.pendingTtlMs,
    );
    this.#probe = new WebSocketProbe(
      timers,
      options.probeIntervalMs ?? 30_000,
      () => this.#makeTransport("websocket"),
    );
    this.#policy = new ReconnectPolicy({
      timers,
      random: options.random ?? Math.random,
      maxFailures: options.maxFailures ?? Infinity,
      fallbackAfter: options.fallbackAfter ?? 3,
      sseAvailable: fallbackEventSource(options) !== null,
    });
  }

  /** Whether the connection is up and messages can be sent. */
  get isOpen(): boolean {
    return this.#wasOpen && this.#transport?.isOpen === true;
  }

  /** Unanswered `command:request`s by id (resent after each reconnect). */
  get pending(): Signal<ReadonlyMap<string, PendingRequest>> {
    return this.#pending.requests;
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
    this.#policy.reset();
    this.#connect("connecting");
  }

  /**
   * While waiting to reconnect: try now instead of at `nextRetryAt` (the
   * "Retry now" button). The schedule goes on: a failure waits as long as
   * the next attempt would have. Does nothing in any other state.
   */
  retryNow(): void {
    if (this.#retryTimer === null) return;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#connect("reconnecting");
  }

  /** Close for good (no retry), clear every timer and go offline. */
  stop(): void {
    this.#teardown();
    this.#started = false;
    this.#setState({
      state: "offline",
      nextRetryAt: null,
      stopReason: "closed",
    });
  }

  /**
   * Send one message; returns the envelope id used (generated when omitted).
   * While not connected the message is dropped, except `command:request`:
   * it is kept until answered and (re)sent after every (re)connect.
   */
  send<K extends DashboardMessageType>(
    type: K,
    payload: PayloadOf<typeof DashboardPayloads, K>,
    id?: string,
  ): string {
    const used = id ??
      `d-${Date.now().toString(36)}-${(++idCounter).toString(36)}`;
    const message: FromDashboard = fromDashboard(type, payload, used);
    if (message.type === "command:request") {
      this.#pending.add({ ...message, id: used });
    }
    if (this.isOpen) this.#transport!.send(message);
    return used;
  }

  #setState(patch: Partial<ConnectionInfo>): void {
    this.connection.value = { ...this.connection.value, ...patch };
  }

  #makeTransport(kind: TransportKind): Transport {
    let t: Transport | undefined;
    const events: TransportEvents = {
      open: () => t === this.#transport && this.#opened(),
      message: (data) => this.#message(t!, data),
      close: (code, reason) => {
        if (t === this.#transport) this.#lost(code, reason);
        else if (t === this.#probe.current) this.#probe.current = null;
      },
    };
    return t = openTransport(kind, this.#o, events);
  }

  #connect(state: "connecting" | "reconnecting"): void {
    this.#retryTimer = null;
    this.#wasOpen = false;
    const transport = this.#policy.transport;
    this.#setState({ state, nextRetryAt: null, stopReason: null, transport });
    try {
      this.#transport = this.#makeTransport(transport);
      if (transport === "sse") {
        // A stream that never acknowledges is as dead as a silent one.
        this.#lastFrameAt = this.#timers.now();
        this.#startBeats(this.#o.sseHeartbeatIntervalMs ?? 5000);
      } else {
        // An upgrade that neither opens nor fails (a proxy holding it) is a
        // failed attempt too, so the SSE fallback still comes.
        const t = this.#transport;
        this.#connectTimer = this.#timers.setTimeout(() => {
          this.#connectTimer = null;
          if (t !== this.#transport || this.#wasOpen) return;
          t.close(4408, "connect timeout");
          this.#lost(4408, "connect timeout");
        }, this.#o.connectTimeoutMs ?? this.#o.deadAfterMs ?? 5000);
      }
    } catch (error) {
      this.#transport = null;
      this.#lost(
        1006,
        error instanceof Error ? error.message : "cannot connect",
      );
    }
  }

  /** The transport is ready (again, for an SSE session that was replaced). */
  #opened(): void {
    const timers = this.#timers;
    const t = this.#transport!;
    const sse = t.kind === "sse";
    this.#wasOpen = true;
    this.#clearConnectTimer();
    this.#policy.opened(t.kind);
    this.#lastFrameAt = timers.now();
    this.#setState({
      state: "connected",
      nextRetryAt: null,
      lastError: null,
      transport: t.kind,
    });
    this.send("dashboard:connect", {
      clientInfo: this.#o.clientInfo ?? {},
      resume: this.#o.resume?.() ?? {},
    });
    for (const request of this.#pending.live()) {
      t.send(request.message);
    }
    this.#startBeats(
      sse
        ? this.#o.sseHeartbeatIntervalMs ?? 5000
        : this.#o.heartbeatIntervalMs ?? 1500,
    );
    if (sse) this.#probe.start();
  }

  #startBeats(intervalMs: number): void {
    const timers = this.#timers;
    if (this.#heartbeatTimer !== null) {
      timers.clearInterval(this.#heartbeatTimer);
    }
    this.#beatIntervalMs = intervalMs;
    this.#lastBeatAt = timers.now();
    this.#heartbeatTimer = timers.setInterval(() => this.#beat(), intervalMs);
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== null) {
      this.#timers.clearTimeout(this.#connectTimer);
    }
    this.#connectTimer = null;
  }

  #beat(): void {
    const now = this.#timers.now();
    const heldBack = now - this.#lastBeatAt > 2 * this.#beatIntervalMs;
    this.#lastBeatAt = now;
    if (heldBack) {
      // The timer was held back (a background tab's throttling, a sleeping
      // laptop): the silence was not watched, so it proves nothing. Count
      // it from now on; the heartbeat's echo refreshes the last frame.
      this.#lastFrameAt = now;
    }
    const deadAfter = this.#transport?.kind === "sse"
      ? this.#o.sseDeadAfterMs ?? 20_000
      : this.#o.deadAfterMs ?? 5000;
    if (now - this.#lastFrameAt >= deadAfter) {
      // Silence: the link is dead even if the browser has not noticed yet.
      this.#transport?.close(4408, "heartbeat timeout");
      this.#lost(4408, "no answer from the server");
      return;
    }
    this.#pending.live(); // expire old requests
    this.send("heartbeat", { sequence: ++this.#sequence });
  }

  #message(t: Transport, data: string): void {
    if (t === this.#transport) return this.#received(data);
    if (t !== this.#probe.current || ackConnectionId(data) === null) return;
    // The probe socket is acknowledged: it becomes the connection, and the
    // event stream closes only now, so nothing falls between the two.
    const old = this.#transport;
    this.#transport = this.#probe.take();
    this.#opened();
    this.#received(data);
    old?.close();
  }

  #received(data: string): void {
    this.#lastFrameAt = this.#timers.now();
    const parsed = parseServerMessage(data);
    if (!parsed.ok) return; // Invalid frames are ignored; the server is the authority.
    const message = parsed.message;
    if (
      (message.type === "command:status" || message.type === "error") &&
      message.payload.replyTo !== undefined
    ) this.#pending.answer(message.payload.replyTo);
    if (
      message.type === "connection:ack" || message.type === "auth:refreshed"
    ) this.#scheduleRefresh(message.payload.expiresAt);
    this.dispatch(message);
  }

  /**
   * Halfway to `expiresAt`, renew the session cookie and send `auth:refresh`,
   * so an open dashboard stays signed in past its token's short lifetime.
   * An expiry that did not move (a token that cannot be renewed) is left to
   * run out.
   */
  #scheduleRefresh(expiresAt: number | undefined): void {
    const timers = this.#timers;
    if (this.#refreshTimer !== null) timers.clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    const previous = this.#expiresAt;
    this.#expiresAt = expiresAt ?? null;
    if (expiresAt === undefined || expiresAt === previous) return;
    const delay = Math.min(
      Math.max(1000, (expiresAt - timers.now()) / 2),
      2 ** 31 - 1,
    );
    const transport = this.#transport;
    this.#refreshTimer = timers.setTimeout(async () => {
      this.#refreshTimer = null;
      try {
        await sessionRefresher(this.#o)?.();
      } catch {
        // Offline or signed out: auth:refresh gets the server's answer.
      }
      if (this.#transport === transport && this.isOpen) {
        this.send("auth:refresh", {});
      }
    }, delay);
  }

  /** Close the transport (and probe) and cancel every timer. */
  #teardown(): void {
    const timers = this.#timers;
    if (this.#heartbeatTimer !== null) {
      timers.clearInterval(this.#heartbeatTimer);
    }
    if (this.#retryTimer !== null) timers.clearTimeout(this.#retryTimer);
    if (this.#refreshTimer !== null) timers.clearTimeout(this.#refreshTimer);
    this.#heartbeatTimer = this.#retryTimer = this.#refreshTimer = null;
    this.#expiresAt = null;
    this.#clearConnectTimer();
    this.#probe.stop();
    this.#transport?.close();
    this.#transport = null;
    this.#wasOpen = false;
  }

  #lost(code: number, reason: string): void {
    const wasOpen = this.#wasOpen;
    const kind = this.#transport?.kind ?? this.#policy.transport;
    this.#teardown();
    const decision = this.#policy.closed(kind, wasOpen, code, reason);
    if (decision.action === "stop") {
      const { stopReason, lastError } = decision;
      this.#setState({
        state: "offline",
        nextRetryAt: null,
        lastError,
        stopReason,
      });
      return;
    }
    const { delay, attempt, lastError, transport } = decision;
    this.#setState({
      state: "reconnecting",
      transport,
      attempt,
      nextRetryAt: this.#timers.now() + delay,
      lastError,
    });
    this.#retryTimer = this.#timers.setTimeout(
      () => this.#connect("reconnecting"),
      delay,
    );
  }
}
