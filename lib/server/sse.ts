/**
 * The fallback transport for dashboards that cannot hold a WebSocket:
 * `GET /api/events` (Server-Sent Events) plus `POST /api/messages`.
 *
 * Each SSE session is a {@link Peer} like a socket. Event ids are cursors
 * `<sessionId>.<n>`; when the browser's EventSource reconnects with
 * `Last-Event-ID`, the same session continues from there if the events after
 * the cursor are still held, so nothing is missed or repeated.
 *
 * @module
 */
import type { DashboardMessage, ToDashboard } from "../protocol.ts";
import { type Principal, sameSignIn } from "./auth.ts";
import type { ConnectionLimits } from "./connection_limits.ts";
import { FlightdeckError } from "./errors.ts";
import type { Peer } from "./peer.ts";
import type { Session } from "./session.ts";

/** Sent events kept for replay after a reconnect (bytes). */
const REPLAY_BYTES = 2 * 1024 * 1024;
/** How long a session without a stream waits for its client to come back. */
const DETACHED_TTL_MS = 60_000;
/** Comment sent to keep proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

const encoder = new TextEncoder();

interface Event {
  n: number;
  text: string;
}

/** A {@link Peer} writing frames as SSE events to the current stream. */
export class SsePeer implements Peer {
  readonly id: string;
  #n = 0;
  #pending: Event[] = [];
  #pendingBytes = 0;
  #sent: Event[] = [];
  #sentBytes = 0;
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  #closed = false;
  #onClose: () => void;
  #detachedTimer: ReturnType<typeof setTimeout> | undefined;
  #keepalive: ReturnType<typeof setInterval> | undefined;

  constructor(id: string, onClose: () => void) {
    this.id = id;
    this.#onClose = onClose;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Bytes not yet taken by the HTTP response (or waiting for a reconnect). */
  get bufferedAmount(): number {
    return this.#pendingBytes;
  }

  send(frame: string): void {
    if (this.#closed) throw new Error("SSE session closed");
    const n = ++this.#n;
    const text = `id: ${this.id}.${n}\ndata: ${frame}\n\n`;
    this.#pending.push({ n, text });
    this.#pendingBytes += text.length;
    this.#flush();
  }

  close(_code: number, _reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#detachedTimer);
    clearInterval(this.#keepalive);
    try {
      this.#controller?.close();
    } catch {
      // The client already went away.
    }
    this.#controller = null;
    this.#pending = [];
    this.#sent = [];
    this.#onClose();
  }

  /**
   * Start a stream for a (re)connecting client. With `after`, the events
   * after that cursor are replayed first; returns null when they are no
   * longer all held.
   */
  attach(after: number | null): ReadableStream<Uint8Array> | null {
    if (this.#closed) return null;
    if (after !== null) {
      const oldest = this.#sent[0]?.n ?? this.#pending[0]?.n ?? this.#n + 1;
      if (after < oldest - 1 || after > this.#n) return null;
      const replay = this.#sent.filter((e) => e.n > after);
      this.#pending.unshift(...replay);
      this.#pendingBytes += replay.reduce((sum, e) => sum + e.text.length, 0);
      this.#sent = this.#sent.filter((e) => e.n <= after);
      this.#sentBytes = this.#sent.reduce((sum, e) => sum + e.text.length, 0);
    }
    this.#detach();
    clearTimeout(this.#detachedTimer);
    let mine: ReadableStreamDefaultController<Uint8Array> | null = null;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        mine = controller;
        this.#controller = controller;
        controller.enqueue(encoder.encode("retry: 1000\n\n"));
        this.#keepalive = setInterval(() => {
          if (this.#controller === mine) {
            mine?.enqueue(encoder.encode(": keepalive\n\n"));
          }
        }, KEEPALIVE_MS);
      },
      pull: () => this.#flush(),
      cancel: () => {
        if (this.#controller === mine) this.#detach();
      },
    }, { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength });
  }

  #flush(): void {
    const controller = this.#controller;
    if (!controller) return;
    while (this.#pending.length && (controller.desiredSize ?? 0) > 0) {
      const event = this.#pending.shift()!;
      this.#pendingBytes -= event.text.length;
      controller.enqueue(encoder.encode(event.text));
      this.#sent.push(event);
      this.#sentBytes += event.text.length;
    }
    while (this.#sentBytes > REPLAY_BYTES && this.#sent.length > 1) {
      this.#sentBytes -= this.#sent.shift()!.text.length;
    }
  }

  #detach(): void {
    clearInterval(this.#keepalive);
    if (this.#controller) {
      try {
        this.#controller.close();
      } catch {
        // Already closed by the client.
      }
    }
    this.#controller = null;
    clearTimeout(this.#detachedTimer);
    this.#detachedTimer = setTimeout(
      () => this.close(1001, "No reconnect"),
      DETACHED_TTL_MS,
    );
  }
}

/** A session behind an SSE stream: it says whom it acts for. */
export type SseSession = Session<DashboardMessage, ToDashboard> & {
  /** The principal the session acts for now (after any `auth:refresh`). */
  readonly principal: Principal | null;
};

interface Entry {
  peer: SsePeer;
  session: SseSession;
  /** Who opened it; stands in until the session reports its principal. */
  opener: Principal;
}

/** The answer of {@link SseHub.open}: a stream, or why there is none. */
export type SseOpenResult =
  | { stream: ReadableStream<Uint8Array>; refused?: undefined }
  | { stream?: undefined; refused: string };

/**
 * SSE sessions by id. With `connections`, each session counts against its
 * user's and its address's connection caps (the same as sockets) from its
 * start until it is closed; a resumed session keeps its place.
 */
export class SseHub {
  #entries = new Map<string, Entry>();
  #connections: ConnectionLimits | null;

  constructor(connections: ConnectionLimits | null = null) {
    this.#connections = connections;
  }

  /**
   * Resume the session named by `lastEventId` if it acts for `user`'s
   * sign-in, or start a new one with `create` from client `address` if the
   * caps allow.
   */
  open(
    user: Principal,
    lastEventId: string | null,
    create: (peer: SsePeer) => SseSession,
    address = "",
  ): SseOpenResult {
    const match = /^([0-9a-f-]{36})\.(\d+)$/.exec(lastEventId ?? "");
    const existing = match ? this.#entries.get(match[1]) : undefined;
    if (existing && sameSignIn(this.#principalOf(existing), user)) {
      const stream = existing.peer.attach(Number(match![2]));
      if (stream) return { stream };
      existing.peer.close(1001, "Cannot resume");
    }
    const id = crypto.randomUUID();
    const refused = this.#connections?.admit(id, {
      address,
      userId: user.id,
      perAddress: true,
    });
    if (refused) return { refused };
    const peer = new SsePeer(id, () => {
      this.#entries.delete(id);
      this.#connections?.release(id);
      entry.session.closed();
    });
    const entry: Entry = { peer, session: create(peer), opener: user };
    this.#entries.set(id, entry);
    const stream = peer.attach(null)!;
    entry.session.opened();
    return { stream };
  }

  /**
   * The session `connectionId`, for a request made with `user`'s token:
   * the same subject, role and sign-in the session acts for, else
   * FORBIDDEN. Null when there is no such session.
   *
   * @throws {FlightdeckError} FORBIDDEN for another principal.
   */
  get(connectionId: string, user: Principal): SseSession | null {
    const entry = this.#entries.get(connectionId);
    if (!entry) return null;
    if (!sameSignIn(this.#principalOf(entry), user)) {
      throw new FlightdeckError(
        "FORBIDDEN",
        "This connection belongs to another sign-in; open /api/events with your own",
      );
    }
    return entry.session;
  }

  #principalOf(entry: Entry): Principal {
    return entry.session.principal ?? entry.opener;
  }

  /** Number of SSE sessions. */
  get size(): number {
    return this.#entries.size;
  }

  /** Close every session. */
  closeAll(): void {
    for (const entry of [...this.#entries.values()]) {
      entry.peer.close(1001, "Server going away");
    }
  }
}
