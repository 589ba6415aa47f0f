/**
 * The narrow socket interface the registry and broadcaster use, so they never
 * touch `WebSocket` and unit tests can record frames with a fake peer.
 *
 * @module
 */

/** One connected client, as the server's core sees it. */
export interface Peer {
  /** Unique connection id. */
  readonly id: string;
  /** Whether frames can still be sent. */
  readonly isOpen: boolean;
  /** Bytes accepted by `send` but not yet written to the network. */
  readonly bufferedAmount: number;
  /** Send one serialized frame. May throw if the socket just closed. */
  send(frame: string): void;
  /** Close with a protocol close code. */
  close(code: number, reason: string): void;
}

/** The real `setTimeout`, kept even when a test fakes the global one. */
const nextTask = globalThis.setTimeout;

/** A {@link Peer} over a server-side `WebSocket`. */
export class WebSocketPeer implements Peer {
  readonly id: string;
  #socket: WebSocket;
  #closing = false;

  constructor(socket: WebSocket, id: string = crypto.randomUUID()) {
    this.#socket = socket;
    this.id = id;
  }

  get isOpen(): boolean {
    return !this.#closing && this.#socket.readyState === WebSocket.OPEN;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  send(frame: string): void {
    if (this.#closing) throw new DOMException("Closing", "InvalidStateError");
    this.#socket.send(frame);
  }

  /**
   * The socket's close starts on the next task: Deno's server WebSocket
   * closes the connection without the close frame when a data frame
   * already read is reported after `close()` and before its deferred write
   * starts (as when closing from a message handler with the next frames
   * buffered). The real timer is used, so faked timers do not hold it. From now on `isOpen` is false and `send` throws.
   */
  close(code: number, reason: string): void {
    if (this.#closing || this.#socket.readyState >= WebSocket.CLOSING) return;
    this.#closing = true;
    nextTask(() => {
      if (this.#socket.readyState >= WebSocket.CLOSING) return;
      try {
        this.#socket.close(code, reason.slice(0, 120));
      } catch {
        // Already closing: nothing left to do.
      }
    }, 0);
  }
}

/** A {@link Peer} that records frames; for unit tests and diagnostics. */
export class RecordingPeer implements Peer {
  readonly id: string;
  readonly frames: string[] = [];
  closed: { code: number; reason: string } | null = null;
  bufferedAmount = 0;
  /** Make `send` throw, to test failure isolation. */
  failSends = false;

  constructor(id: string = crypto.randomUUID()) {
    this.id = id;
  }

  get isOpen(): boolean {
    return this.closed === null;
  }

  send(frame: string): void {
    if (this.failSends) throw new Error("send failed");
    this.frames.push(frame);
  }

  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }

  /** The recorded frames, parsed. */
  messages(): { type: string; payload: unknown }[] {
    return this.frames.map((frame) => JSON.parse(frame));
  }
}
