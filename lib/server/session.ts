/**
 * What dashboard and agent sockets share: frame limits, message rate,
 * liveness, the authentication deadline, and error replies.
 *
 * @module
 */
import {
  byteLength,
  CLOSE_CODES,
  envelope,
  type ErrorCode,
  errorPayload,
  type ParseResult,
} from "../protocol.ts";
import { sendFrame } from "./broadcaster.ts";
import { FlightdeckError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { WebSocketPeer } from "./peer.ts";

/** Limits every session enforces. */
export interface SessionLimits {
  maxFrameBytes: number;
  maxBufferedBytes: number;
  messageRatePerSecond: number;
  /** Close with 4408 when no frame arrived for this long. */
  timeoutMs: number;
  /** Close with 4401 when not authenticated within this long. */
  authTimeoutMs: number;
}

/** Consecutive rate-limited messages after which the socket is closed 4429. */
const RATE_STRIKES = 100;

/** A server-side socket session; subclasses handle parsed messages. */
export abstract class Session<M extends { type: string; id?: string }> {
  readonly peer: WebSocketPeer;
  protected readonly socket: WebSocket;
  protected readonly limits: SessionLimits;
  protected readonly log: Logger;
  protected authenticated = false;
  #lastFrameAt = Date.now();
  #tokens: number;
  #refilledAt = Date.now();
  #strikes = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #authTimer: ReturnType<typeof setTimeout> | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(socket: WebSocket, limits: SessionLimits, log: Logger) {
    this.socket = socket;
    this.peer = new WebSocketPeer(socket);
    this.limits = limits;
    this.log = log;
    this.#tokens = limits.messageRatePerSecond;
    socket.addEventListener("open", () => this.#opened());
    socket.addEventListener("message", (event) => this.#received(event.data));
    socket.addEventListener("close", () => this.#closed());
    socket.addEventListener("error", () => {});
  }

  /** Parse one frame into a message of this endpoint. */
  protected abstract parse(frame: string): ParseResult<M>;
  /** Handle one valid message. Messages are handled one at a time, in order. */
  protected abstract handle(message: M): Promise<void>;
  /** Called when the socket opened. */
  protected abstract onOpen(): void;
  /** Called once when the socket closed or was found dead. */
  protected abstract onClose(): void;

  /** Send a message (serialized here) with the slow-consumer rule. */
  send(message: unknown): boolean {
    return sendFrame(this.peer, JSON.stringify(message), {
      maxBufferedBytes: this.limits.maxBufferedBytes,
    });
  }

  /** Send an `error` message. */
  sendError(code: ErrorCode, message: string, replyTo?: string): void {
    this.send(envelope("error", errorPayload(code, message, replyTo)));
  }

  /** Send AUTH_FAILED and close with 4401. */
  rejectAuth(message: string): void {
    this.sendError("AUTH_FAILED", message);
    this.peer.close(CLOSE_CODES.UNAUTHENTICATED.code, message);
    this.#closed();
  }

  /** Mark the session authenticated (stops the authentication deadline). */
  protected markAuthenticated(): void {
    this.authenticated = true;
    clearTimeout(this.#authTimer);
  }

  #opened(): void {
    this.#authTimer = setTimeout(() => {
      if (!this.authenticated) this.rejectAuth("Authentication timed out");
    }, this.limits.authTimeoutMs);
    const tick = Math.min(500, this.limits.timeoutMs / 4);
    this.#timer = setInterval(() => this.#checkAlive(), tick);
    this.onOpen();
  }

  #checkAlive(): void {
    if (Date.now() - this.#lastFrameAt <= this.limits.timeoutMs) return;
    this.peer.close(CLOSE_CODES.HEARTBEAT_TIMEOUT.code, "No heartbeat");
    // A half-open socket may never report its close: act now.
    this.#closed();
  }

  #closed(): void {
    if (this.#timer === undefined && this.#authTimer === undefined) return;
    clearInterval(this.#timer);
    clearTimeout(this.#authTimer);
    this.#timer = undefined;
    this.#authTimer = undefined;
    this.onClose();
  }

  #received(data: unknown): void {
    this.#lastFrameAt = Date.now();
    if (typeof data !== "string") {
      this.sendError("INVALID_MESSAGE", "Binary frames are not accepted");
      return;
    }
    if (
      data.length > this.limits.maxFrameBytes ||
      byteLength(data) > this.limits.maxFrameBytes
    ) {
      this.peer.close(CLOSE_CODES.FRAME_TOO_LARGE.code, "Frame too large");
      return;
    }
    if (!this.#takeToken()) return;
    const parsed = this.parse(data);
    if (!parsed.ok) {
      this.sendError(parsed.code, parsed.message, parsed.replyTo);
      return;
    }
    const message = parsed.message;
    this.#chain = this.#chain.then(() => this.handle(message)).catch(
      (error) => this.#failed(error, message.id),
    );
  }

  #failed(error: unknown, replyTo?: string): void {
    if (error instanceof FlightdeckError) {
      this.sendError(error.code, error.message, replyTo);
      return;
    }
    this.log.error("Message handler failed", { error: String(error) });
    this.sendError(
      "INTERNAL",
      "The server failed to handle the message",
      replyTo,
    );
  }

  #takeToken(): boolean {
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
    this.sendError("RATE_LIMIT", `Over ${rate} messages per second`);
    if (++this.#strikes >= RATE_STRIKES) {
      this.peer.close(CLOSE_CODES.RATE_LIMITED.code, "Rate limit exceeded");
    }
    return false;
  }
}
