/**
 * Fan-out to dashboards: serialize once, skip closed peers, isolate send
 * failures, close slow consumers with 4503: a peer over its own backlog cap,
 * and, while the backlogs of all peers together are over the total cap, the
 * peer with the largest one.
 *
 * @module
 */
import { CLOSE_CODES, type ToDashboard } from "../protocol.ts";
import type { Peer } from "./peer.ts";

/** Options of {@link Broadcaster}. */
export interface BroadcasterOptions {
  /** A peer with more unsent bytes than this is closed (4503). */
  maxBufferedBytes: number;
  /**
   * When the peers' unsent bytes together pass this after a broadcast, the
   * peer with the most is closed (4503), then the next, until under it.
   */
  maxTotalBufferedBytes?: number;
  /** Called for each peer closed for the total cap, with its backlog. */
  onShed?: (peer: Peer, bufferedBytes: number, totalBytes: number) => void;
  /** Called when a send to a peer throws; the loop goes on. */
  onError?: (peer: Peer, error: unknown) => void;
  /**
   * Cluster mode: called with every broadcast frame (as serialized) and its
   * message, to pass it on to the other nodes' dashboards; `durable`, when
   * given, settles once what the frame carries is stored (output), and the
   * frame must not leave this node before it resolves. Absent: one node.
   */
  relay?: (
    frame: string,
    message: ToDashboard,
    durable?: Promise<unknown>,
  ) => void;
}

/** Sends server → dashboard messages to a set of peers. */
export class Broadcaster {
  #peers = new Map<string, Peer>();
  #options: BroadcasterOptions;
  /**
   * Per peer, per command, the seq up to which that peer already has the
   * output (see {@link skipOutputUpTo}). Usually empty.
   */
  #floors = new Map<string, Map<string, number>>();

  constructor(options: BroadcasterOptions) {
    if (!(options.maxBufferedBytes > 0)) {
      throw new RangeError("maxBufferedBytes must be positive");
    }
    this.#options = options;
  }

  /** Add `peer`; returns false if it was already there. */
  add(peer: Peer): boolean {
    if (this.#peers.has(peer.id)) return false;
    this.#peers.set(peer.id, peer);
    return true;
  }

  /** Remove `peer`; returns false if it was not there. */
  remove(peer: Peer): boolean {
    this.#floors.delete(peer.id);
    return this.#peers.delete(peer.id);
  }

  /**
   * `peer` resumed `commandId` having seen its output up to `seq`, further
   * than this server has broadcast it (it saw it live from a server, or a
   * cluster node, that died before storing it, and the agent resends it):
   * `terminal:output` of that command up to `seq` is not sent to it again.
   * Forgotten at the first later chunk, or with the peer.
   */
  skipOutputUpTo(peer: Peer, commandId: string, seq: number): void {
    let floors = this.#floors.get(peer.id);
    if (!floors) this.#floors.set(peer.id, floors = new Map());
    floors.set(commandId, Math.max(floors.get(commandId) ?? 0, seq));
  }

  /** Ids of the peers that already have output chunk `output`. */
  #skipped(output: { commandId: string; seq: number }): Set<string> {
    const skipped = new Set<string>();
    for (const [peerId, floors] of this.#floors) {
      const floor = floors.get(output.commandId);
      if (floor === undefined) continue;
      if (output.seq <= floor) skipped.add(peerId);
      else floors.delete(output.commandId);
      if (floors.size === 0 || !this.#peers.has(peerId)) {
        this.#floors.delete(peerId);
      }
    }
    return skipped;
  }

  /** Number of peers. */
  get size(): number {
    return this.#peers.size;
  }

  /** Current peers. */
  peers(): Peer[] {
    return [...this.#peers.values()];
  }

  /**
   * Send `message` (serialized once) to every peer except `except`, and
   * hand it to `relay` (cluster mode), with `durable` when given.
   * Returns the number of peers it was handed to.
   */
  broadcast(
    message: ToDashboard,
    except?: Peer,
    durable?: Promise<unknown>,
  ): number {
    const frame = JSON.stringify(message);
    this.#options.relay?.(frame, message, durable);
    return this.broadcastFrame(
      frame,
      except,
      this.#floors.size > 0 && message.type === "terminal:output"
        ? message.payload
        : undefined,
    );
  }

  /**
   * Send an already-serialized frame to every peer except `except`, with
   * the same slow-consumer rules, and pass it on to no other node (frames
   * relayed from other nodes). Returns the number of peers it was handed to.
   * `output`: the frame is that `terminal:output` chunk (see
   * {@link skipOutputUpTo}).
   */
  broadcastFrame(
    frame: string,
    except?: Peer,
    output?: { commandId: string; seq: number },
  ): number {
    const skip = this.#floors.size > 0 && output ? this.#skipped(output) : null;
    let sent = 0;
    let total = 0;
    for (const peer of this.#peers.values()) {
      if (
        peer !== except && (skip === null || !skip.has(peer.id)) &&
        sendFrame(peer, frame, this.#options)
      ) sent++;
      // Closed (or just closed as a slow consumer): stop buffering for it now;
      // a peer that stopped reading may not report its close for a long time.
      if (!peer.isOpen) this.#peers.delete(peer.id);
      else total += peer.bufferedAmount;
    }
    const max = this.#options.maxTotalBufferedBytes ?? Infinity;
    while (total > max) {
      let slowest: Peer | null = null;
      for (const peer of this.#peers.values()) {
        if (!slowest || peer.bufferedAmount > slowest.bufferedAmount) {
          slowest = peer;
        }
      }
      if (!slowest) break;
      this.#options.onShed?.(slowest, slowest.bufferedAmount, total);
      total -= slowest.bufferedAmount;
      this.#peers.delete(slowest.id);
      if (slowest !== except) sent--;
      slowest.close(CLOSE_CODES.SLOW_CONSUMER.code, "Slow consumer");
    }
    return sent;
  }

  /** Send `message` to one peer with the same slow-consumer rules. */
  sendTo(peer: Peer, message: ToDashboard): boolean {
    return sendFrame(peer, JSON.stringify(message), this.#options);
  }
}

/**
 * Send one frame to `peer`, closing it with 4503 when its buffer is over
 * the limit. Returns whether the frame was handed to the socket.
 */
export function sendFrame(
  peer: Peer,
  frame: string,
  options: BroadcasterOptions,
): boolean {
  if (!peer.isOpen) return false;
  // frame.length (UTF-16 units) approximates bytes; the cap is a bound, not an exact budget.
  if (peer.bufferedAmount + frame.length > options.maxBufferedBytes) {
    peer.close(CLOSE_CODES.SLOW_CONSUMER.code, "Slow consumer");
    return false;
  }
  try {
    peer.send(frame);
    return true;
  } catch (error) {
    options.onError?.(peer, error);
    return false;
  }
}
