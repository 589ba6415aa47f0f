/**
 * Types of the dashboard socket client: connection state, the injectable
 * WebSocket and timers, options, and the message-client interface.
 * @module
 */
import type {
  DashboardPayloads,
  PayloadOf,
  ServerToDashboardMessage,
} from "../protocol.ts";

/** Phase of the dashboard connection. */
export type ConnectionState =
  | "connecting"
  | "connected"
  | "reconnecting"
  | "offline";

/** Why the client stopped for good until a manual reconnect or new login. */
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
  /** Failed attempts in a row before going offline (default 5). */
  maxFailures?: number;
  /** Receives exceptions thrown by message handlers. */
  onHandlerError?: (error: unknown) => void;
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
