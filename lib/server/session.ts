/**
 * What dashboard and agent connections share: frame limits, message rate,
 * liveness, the authentication deadline, and error replies. A session is
 * transport-agnostic: a WebSocket (see {@link attachWebSocket}) or an SSE
 * stream plus POSTs feeds it frames through {@link Session.receive}.
 *
 * @module
 */
import {
  byteLength,
  CLOSE_CODES,
  type ErrorCode,
  type ErrorMessage,
  errorMessage,
  type ParseFailure,
  type ParseResult,
} from "../protocol.ts";
import { sendFrame } from "./broadcaster.ts";
import { FlightdeckError, storageUnavailable } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Peer } from "./peer.ts";

/** Limits every session enforces. */
export interface SessionLimits {
  maxFrameBytes: number;
  maxBufferedBytes: number;
  messageRatePerSecond: number;
  /** Close with 4408 when no frame arrived for this long. */
  timeoutMs: number;
  /** Close with 4401 when not authenticated within this long. */
  authTimeoutMs: number;
  /**
   * Most frame bytes (UTF-16 units) received and not yet handled, plus what
   * the session still holds of handled ones ({@link Session.heldBytes});
   * one more gets RATE_LIMIT and a 4429 close. Unbounded when absent.
   */
  maxBacklogBytes?: number;
  /**
   * Before authentication, a larger frame closes the connection with 1009
   * (default: no cap beyond `maxFrameBytes`). Deno reads a frame whole
   * before it is seen here; the cap ends the socket at its first one.
   */
  maxUnauthenticatedFrameBytes?: number;
}

/** A frame refused for the message rate. */
export interface RateFailure {
  ok: false;
  code: "RATE_LIMIT";
  message: string;
}

/** Longest delay a timer holds (2^31-1 ms); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Shortest time between two handled `auth:refresh` messages. */
export const REFRESH_INTERVAL_MS = 1000;

/** Consecutive rate-limited messages after which the socket is closed 4429. */
const RATE_STRIKES = 100;

/**
 * A server-side connection that receives messages `M` and sends messages
 * `O` (plus `error`, which both directions share); subclasses handle parsed
 * messages.
 */
export abstract class Session<
  M extends { type: string; id?: string },
  O extends { type: string },
> {
  readonly peer: Peer;
  protected readonly limits: SessionLimits;
  protected readonly log: Logger;
  protected authenticated = false;
  #lastFrameAt = Date.now();
  #tokens: number;
  #refilledAt = Date.now();
  #strikes = 0;
  /** Leaves the shared liveness tick; set while the session is open. */
  #unwatch: (() => void) | undefined;
  #authTimer: ReturnType<typeof setTimeout> | undefined;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  #lastRefreshAt = Number.NEGATIVE_INFINITY;
  #closed = false;
  #chain: Promise<void> = Promise.resolve();
  #backlog = 0;
  /** Called when the liveness check finds the transport dead. */
  onTimedOut: (() => void) | null = null;

  constructor(peer: Peer, limits: SessionLimits, log: Logger) {
    this.peer = peer;
    this.limits = limits;
    this.log = log;
    this.#tokens = limits.messageRatePerSecond;
  }

  /** Parse one frame into a message of this endpoint. */
  protected abstract parse(frame: string): ParseResult<M>;
  /**
   * Bytes of handled messages this session still holds in memory (counted
   * toward `maxBacklogBytes`); none by default.
   */
  protected heldBytes(): number {
    return 0;
  }

  /** Handle one valid message. Messages are handled one at a time, in order. */
  protected abstract handle(message: M): Promise<void>;
  /** Called when the socket opened. */
  protected abstract onOpen(): void;
  /** Called once when the socket closed or was found dead. */
  protected abstract onClose(): void;
  /**
   * Called when a frame is refused for the message rate, before it is
   * parsed (the audit trail records it); nothing by default.
   */
  protected onRateRefused(_message: string): void {}

  /** Send a message (serialized here) with the slow-consumer rule. */
  send(message: O): boolean {
    return this.#write(message);
  }

  /** Send an `error` message. */
  sendError(code: ErrorCode, message: string, replyTo?: string): void {
    this.#write(errorMessage(code, message, replyTo));
  }

  #write(message: O | ErrorMessage): boolean {
    return sendFrame(this.peer, JSON.stringify(message), {
      maxBufferedBytes: this.limits.maxBufferedBytes,
    });
  }

  /** Send AUTH_FAILED and close with 4401. */
  rejectAuth(message: string): void {
    this.sendError("AUTH_FAILED", message);
    this.peer.close(CLOSE_CODES.UNAUTHENTICATED.code, message);
    this.closed();
  }

  /**
   * Refuse a sign-in that could not be checked because the storage (Redis)
   * is unreachable: send STORAGE_UNAVAILABLE and close with 1001
   * `Storage unavailable`, so the client reconnects with its backoff.
   */
  refuseUnavailable(message: string, replyTo?: string): void {
    this.sendError("STORAGE_UNAVAILABLE", message, replyTo);
    this.peer.close(CLOSE_CODES.GOING_AWAY.code, "Storage unavailable");
    this.closed();
  }

  /** Whether the transport closed; work still queued must not act on it. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Mark the session authenticated until `expiresAt` (stops the
   * authentication deadline; at expiry without `auth:refresh`, 4401).
   */
  protected markAuthenticated(expiresAt: number): void {
    this.authenticated = true;
    clearTimeout(this.#authTimer);
    this.setExpiry(expiresAt);
  }

  /**
   * (Re)arm the token expiry: AUTH_FAILED and 4401 when it passes. Timers
   * hold at most 2^31-1 ms (24.8 days), so a later expiry is reached in
   * steps: each step re-arms until `expiresAt` itself has passed.
   */
  protected setExpiry(expiresAt: number): void {
    clearTimeout(this.#expiryTimer);
    if (this.#closed) return;
    const remaining = Math.max(0, expiresAt - Date.now());
    this.#expiryTimer = setTimeout(() => {
      if (Date.now() >= expiresAt) this.rejectAuth("Token expired");
      else this.setExpiry(expiresAt);
    }, Math.min(remaining, MAX_TIMER_MS));
  }

  /**
   * Whether an `auth:refresh` may be handled now: at most one per
   * {@link REFRESH_INTERVAL_MS}, since each one reads storage and may sign a
   * token. A refused one gets RATE_LIMIT (the connection stays open).
   */
  protected takeRefresh(replyTo?: string): boolean {
    const now = Date.now();
    if (now - this.#lastRefreshAt < REFRESH_INTERVAL_MS) {
      this.sendError(
        "RATE_LIMIT",
        `At most one auth:refresh per ${REFRESH_INTERVAL_MS / 1000} s`,
        replyTo,
      );
      return false;
    }
    this.#lastRefreshAt = now;
    return true;
  }

  /** The transport opened: start the authentication deadline and liveness checks. */
  opened(): void {
    this.#authTimer = setTimeout(() => {
      if (!this.authenticated) this.rejectAuth("Authentication timed out");
    }, this.limits.authTimeoutMs);
    const tick = Math.min(250, this.limits.timeoutMs / 4);
    this.#unwatch = watchLiveness(tick, () => this.#checkAlive());
    this.onOpen();
  }

  #checkAlive(): void {
    if (Date.now() - this.#lastFrameAt <= this.limits.timeoutMs) return;
    this.peer.close(CLOSE_CODES.HEARTBEAT_TIMEOUT.code, "No heartbeat");
    // A half-open socket may never report its close: act now.
    this.closed();
    this.onTimedOut?.();
  }

  /** The transport closed (or was found dead); idempotent. */
  closed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    this.#unwatch = undefined;
    clearTimeout(this.#authTimer);
    clearTimeout(this.#expiryTimer);
    this.onClose();
  }

  /**
   * Take one received frame: check size and rate, parse, and queue it for
   * {@link handle}. A refused frame gets an `error` reply, or with
   * `reply: false` is returned to the caller instead (HTTP POSTs answer it
   * in their response).
   */
  receive(
    data: unknown,
    options: { reply?: boolean } = {},
  ): ParseFailure | RateFailure | null {
    const reply = options.reply ?? true;
    this.#lastFrameAt = Date.now();
    if (typeof data !== "string") {
      const failure: ParseFailure = {
        ok: false,
        code: "INVALID_MESSAGE",
        message: "Binary frames are not accepted",
      };
      if (reply) this.sendError(failure.code, failure.message);
      return failure;
    }
    const early = this.limits.maxUnauthenticatedFrameBytes;
    if (!this.authenticated && early !== undefined && overBytes(data, early)) {
      const message = `Frame over ${early} bytes before authentication`;
      this.peer.close(CLOSE_CODES.FRAME_TOO_LARGE.code, message);
      return { ok: false, code: "PAYLOAD_TOO_LARGE", message };
    }
    if (overBytes(data, this.limits.maxFrameBytes)) {
      this.peer.close(CLOSE_CODES.FRAME_TOO_LARGE.code, "Frame too large");
      return {
        ok: false,
        code: "PAYLOAD_TOO_LARGE",
        message: "Frame too large",
      };
    }
    if (!this.#takeToken(reply)) {
      return {
        ok: false,
        code: "RATE_LIMIT",
        message: `Over ${this.limits.messageRatePerSecond} messages per second`,
      };
    }
    const parsed = this.parse(data);
    if (!parsed.ok) {
      if (reply) this.sendError(parsed.code, parsed.message, parsed.replyTo);
      return parsed;
    }
    const message = parsed.message;
    if (this.#closed) return null; // Nothing will handle it: hold nothing.
    const maxBacklog = this.limits.maxBacklogBytes;
    if (
      maxBacklog !== undefined &&
      this.#backlog + this.heldBytes() + data.length > maxBacklog
    ) {
      const text = `Over ${maxBacklog} bytes received and not yet handled`;
      if (reply) this.sendError("RATE_LIMIT", text, message.id);
      this.peer.close(CLOSE_CODES.RATE_LIMITED.code, "Backlog over its limit");
      // Act now, not when the close is reported: the messages still queued
      // are skipped once the one in progress is done, never handled.
      this.closed();
      return { ok: false, code: "RATE_LIMIT", message: text };
    }
    this.enqueue(() => this.handle(message), message.id, data.length);
    return null;
  }

  /**
   * Run `task` after every earlier message was handled; failures are
   * answered. `cost` counts toward the backlog until `task` settles.
   */
  protected enqueue(
    task: () => Promise<void>,
    replyTo?: string,
    cost = 0,
  ): void {
    this.#backlog += cost;
    const run = () => this.#closed ? Promise.resolve() : task();
    this.#chain = this.#chain.then(run).catch((error) =>
      this.#failed(error, replyTo)
    ).finally(() => this.#backlog -= cost);
  }

  #failed(error: unknown, replyTo?: string): void {
    if (error instanceof FlightdeckError) {
      this.sendError(error.code, error.message, replyTo);
      return;
    }
    const unavailable = storageUnavailable(error);
    if (unavailable) {
      this.log.warn("Storage unavailable", { error: String(error) });
      this.sendError(unavailable.code, unavailable.message, replyTo);
      return;
    }
    this.log.error("Message handler failed", { error: String(error) });
    this.sendError(
      "INTERNAL",
      "The server failed to handle the message",
      replyTo,
    );
  }

  #takeToken(reply: boolean): boolean {
    const now = Date.now();
    const rate = this.limits.messageRatePerSecond;
    this.#tokens = Math.min(
      rate,
      this.#tokens + ((now - this.#refilledAt) / 1000) * rate,
    );
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#strikes = 0;
      return true;
    }
    const message = `Over ${rate} messages per second`;
    if (reply) this.sendError("RATE_LIMIT", message);
    this.onRateRefused(message);
    if (++this.#strikes >= RATE_STRIKES) {
      this.peer.close(CLOSE_CODES.RATE_LIMITED.code, "Rate limit exceeded");
    }
    return false;
  }
}

/** Sessions checked on one shared interval of `tick` ms. */
interface LivenessGroup {
  checks: Set<() => void>;
  timer: ReturnType<typeof setInterval>;
}

/**
 * Shared liveness intervals, per `setInterval` function (so that a fake
 * clock installed later gets its own) and per tick: one wakeup per tick for
 * all open sessions, instead of one interval per session.
 */
const livenessGroups = new WeakMap<
  typeof setInterval,
  Map<number, LivenessGroup>
>();

/**
 * Run `check` every `tick` ms on the interval shared by every session with
 * that tick; the returned function stops it. The interval runs while at
 * least one check is registered and is cleared with the last one.
 */
export function watchLiveness(tick: number, check: () => void): () => void {
  const schedule = globalThis.setInterval;
  const unschedule = globalThis.clearInterval;
  let groups = livenessGroups.get(schedule);
  if (!groups) livenessGroups.set(schedule, groups = new Map());
  let group = groups.get(tick);
  if (!group) {
    const checks = new Set<() => void>();
    const timer = schedule(() => {
      // A check may close its session and leave the set: Set iteration
      // tolerates deletion of visited and unvisited entries. One check that
      // throws does not skip the others; its error is thrown after them.
      let failure: { error: unknown } | undefined;
      for (const run of checks) {
        try {
          run();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure) throw failure.error;
    }, tick);
    group = { checks, timer };
    groups.set(tick, group);
  }
  const own = group;
  // A function of its own per registration: the same check twice counts twice.
  const entry = () => check();
  own.checks.add(entry);
  return () => {
    if (!own.checks.delete(entry) || own.checks.size) return;
    unschedule(own.timer);
    if (groups.get(tick) === own) groups.delete(tick);
  };
}

/** Whether `text` is over `max` UTF-8 bytes. */
function overBytes(text: string, max: number): boolean {
  // A UTF-16 unit is at most 3 UTF-8 bytes: count bytes only when it matters.
  return text.length > max || (text.length * 3 > max && byteLength(text) > max);
}

/**
 * Feed a session from a server-side WebSocket. `gone` runs once when the
 * socket reports its close or the session finds it dead (no frames for
 * `timeoutMs`); not when the server merely asked it to close, so a socket
 * that keeps sending after a refusal stays counted against its caps.
 */
export function attachWebSocket(
  socket: WebSocket,
  session: Session<{ type: string; id?: string }, { type: string }>,
  gone?: () => void,
): void {
  let once = gone;
  const release = () => {
    const run = once;
    once = undefined;
    run?.();
  };
  session.onTimedOut = release;
  socket.addEventListener("open", () => session.opened());
  socket.addEventListener("message", (event) => session.receive(event.data));
  socket.addEventListener("close", () => {
    session.closed();
    release();
  });
  socket.addEventListener("error", () => {});
}
