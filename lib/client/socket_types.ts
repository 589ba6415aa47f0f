/**
 * Types of the dashboard socket client: connection state, the injectable
 * WebSocket and timers, options, and the message-client interface.
 * @module
 */
import type {
  DashboardPayloads,
  FromDashboard,
  PayloadOf,
  ServerToDashboardMessage,
} from "../protocol.ts";

/** Phase of the dashboard connection. */
export type ConnectionState =
  | "connecting"
  | "connected"
  | "reconnecting"
  | "offline";

/** Which transport carries the connection. */
export type TransportKind = "websocket" | "sse";

/**
 * Why the client stopped for good until a manual reconnect or new login.
 * `failures` happens only with a finite `maxFailures`.
 */
export type StopReason = "signed-out" | "forbidden" | "closed" | "failures";

/** What the `connection` signal holds. */
export interface ConnectionInfo {
  state: ConnectionState;
  /** Number of the upcoming (or current) reconnect attempt; 0 when none. */
  attempt: number;
  /** Epoch ms of the next scheduled retry, or null. */
  nextRetryAt: number | null;
  /** Human-readable description of the last problem, or null. */
  lastError: string | null;
  /** Set once the client gave up; `signed-out` means "log in again". */
  stopReason: StopReason | null;
  /** `sse` while on the Server-Sent Events + POST fallback. */
  transport: TransportKind;
}

/** The part of the browser `WebSocket` the client uses (fakeable in tests). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A `WebSocket`-compatible constructor. */
export type SocketConstructor = new (url: string) => SocketLike;

/** The part of the browser `EventSource` the SSE fallback uses. */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown; lastEventId?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** An `EventSource`-compatible constructor. */
export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

/** The part of `fetch` the SSE fallback uses (POST /api/messages). */
export type FetchLike = (
  url: string,
  init: {
    method: string;
    headers: Record<string, string>;
    body: string;
    credentials?: "same-origin" | "include";
    signal?: AbortSignal;
  },
) => Promise<{ status: number; text(): Promise<string> }>;

/** Timer functions and clock (fake timers in tests). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  now(): number;
}

/** Options of {@link DashboardClient}. */
export interface DashboardClientOptions {
  /** Socket URL; defaults to `ws(s)://<location.host>/ws/dashboard`. */
  url?: string;
  /** WebSocket constructor; defaults to the global one. */
  WebSocket?: SocketConstructor;
  /** Timers and clock; default to the global ones. */
  timers?: Timers;
  /** Randomness for backoff jitter. */
  random?: () => number;
  /** Called on every open: the `resume` map of `dashboard:connect`. */
  resume?: () => Record<string, number>;
  /** Sent as `clientInfo` in `dashboard:connect`. */
  clientInfo?: { userAgent?: string; timezone?: string };
  /** Heartbeat period in ms (default 1500). */
  heartbeatIntervalMs?: number;
  /** Silence after which the socket is considered dead (default 5000). */
  deadAfterMs?: number;
  /**
   * A WebSocket attempt that has not opened after this long is closed and
   * counts as failed (default {@link deadAfterMs}).
   */
  connectTimeoutMs?: number;
  /**
   * Failed attempts in a row before going offline with stop reason
   * `failures` (default `Infinity`: the client never gives up on network
   * trouble; it retries with backoff, each wait at most 30 s).
   */
  maxFailures?: number;
  /** Receives exceptions thrown by message handlers. */
  onHandlerError?: (error: unknown) => void;
  /**
   * EventSource constructor for the SSE fallback; defaults to the global one.
   * `null` disables the fallback (WebSocket only).
   */
  EventSource?: EventSourceConstructor | null;
  /** `fetch` for the fallback's POSTs; defaults to the global one. */
  fetch?: FetchLike;
  /** Event stream URL; defaults to `/api/events` on the socket URL's host. */
  eventsUrl?: string;
  /** POST URL; defaults to `/api/messages` on the socket URL's host. */
  messagesUrl?: string;
  /** WebSocket attempts that never opened, in a row, before SSE (default 3). */
  fallbackAfter?: number;
  /** Heartbeat period on SSE in ms (default 5000). */
  sseHeartbeatIntervalMs?: number;
  /** Silence after which the event stream is considered dead (default 20000). */
  sseDeadAfterMs?: number;
  /** While on SSE, how often to try the WebSocket again (default 30000). */
  probeIntervalMs?: number;
  /** Unanswered `command:request`s are dropped after this long (default 10 min). */
  pendingTtlMs?: number;
  /**
   * Renews the browser's session cookie; called halfway through the
   * connection's token lifetime, before `auth:refresh` is sent. Defaults in
   * a browser to `POST /api/session/refresh` on the socket's host; `null`
   * (the default under Deno) only sends `auth:refresh`.
   */
  refreshSession?: (() => Promise<void>) | null;
}

/** An unanswered `command:request` the client resends after reconnecting. */
export interface PendingRequest {
  id: string;
  /** The envelope as first sent; resent unchanged (same id). */
  message: FromDashboard<"command:request"> & { id: string };
  /** Epoch ms of the first send. */
  sentAt: number;
}

/** Message types a server sends to dashboards. */
export type ServerMessageType = ServerToDashboardMessage["type"];
/** The validated message of type `K`. */
export type ServerMessageOf<K extends ServerMessageType> = Extract<
  ServerToDashboardMessage,
  { type: K }
>;
/** Message types a dashboard may send. */
export type DashboardMessageType = keyof typeof DashboardPayloads & string;

/** What stores need from a client: subscribe and send. */
export interface MessageClient {
  on<K extends ServerMessageType>(
    type: K,
    handler: (message: ServerMessageOf<K>) => void,
  ): () => void;
  send<K extends DashboardMessageType>(
    type: K,
    payload: PayloadOf<typeof DashboardPayloads, K>,
    id?: string,
  ): string;
}
