/**
 * Live terminals: who controls an agent's terminal, and the keystrokes and
 * sizes the controller sends to it.
 *
 * One dashboard connection at a time holds control of an agent's terminal
 * (`session:control`). Only the holder's `terminal:input` and
 * `terminal:resize` are forwarded, unchanged, to the agent, addressed to the
 * agent's current command (`AgentInfo.currentCommandId`). Control ends when
 * the holder releases it, its connection closes, an admin takes it over, or
 * the agent goes offline; every change is broadcast as `session:controller`.
 *
 * @module
 */
import {
  byteLength,
  type Role,
  type ToAgent,
  toAgent,
  type ToDashboard,
  toDashboard,
} from "../protocol.ts";
import { roleAllows } from "./auth.ts";
import type { Broadcaster } from "./broadcaster.ts";
import { FlightdeckError } from "./errors.ts";
import type { Registry } from "./registry.ts";

/** The connection that controls an agent's terminal. */
export interface Holder {
  userId: string;
  connectionId: string;
}

/** Who is asking: a signed-in dashboard user on one connection. */
export interface Requester {
  userId: string;
  role: Role;
  connectionId: string;
}

/** A terminal size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/** Options of {@link SessionControl}. */
export interface SessionControlOptions {
  registry: Registry;
  dashboards: Broadcaster;
  /** Send a message to a connected agent; false when it is not connected. */
  sendToAgent: (agentId: string, message: ToAgent) => boolean;
  /** `terminal:input` plus `terminal:resize` messages per connection per second. */
  messagesPerSecond: number;
  /** UTF-8 bytes of `terminal:input` data per connection per second. */
  bytesPerSecond: number;
  /** Called with each size forwarded to command `commandId`'s terminal. */
  onResize?: (commandId: string, size: TerminalSize) => void;
  now?: () => number;
}

/**
 * A token bucket: holds up to `capacity`, refilled at `capacity` per second.
 */
class Bucket {
  #level: number;
  #at: number;
  readonly capacity: number;

  constructor(capacity: number, now: number) {
    this.capacity = capacity;
    this.#level = capacity;
    this.#at = now;
  }

  /** Whether `amount` is available at `now` (refilled first). */
  has(amount: number, now: number): boolean {
    const elapsed = Math.max(0, now - this.#at);
    this.#level = Math.min(
      this.capacity,
      this.#level + (elapsed / 1000) * this.capacity,
    );
    this.#at = now;
    return this.#level >= amount;
  }

  /** Take `amount`; call after {@link has} said yes. */
  take(amount: number): void {
    this.#level -= amount;
  }
}

interface Limits {
  messages: Bucket;
  bytes: Bucket;
}

/** Terminal control per agent, and the rate of input per connection. */
export class SessionControl {
  #o: SessionControlOptions;
  #now: () => number;
  /** Agent id → the connection holding control of its terminal. */
  #holders = new Map<string, Holder>();
  /** Agent id → the last size its controller sent (online agents only). */
  #sizes = new Map<string, TerminalSize>();
  /** Connection id → its input buckets (open connections that sent input). */
  #limits = new Map<string, Limits>();

  constructor(options: SessionControlOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => Date.now());
  }

  /** The holder of agent `agentId`'s terminal, or null. */
  holderOf(agentId: string): Holder | null {
    return this.#holders.get(agentId) ?? null;
  }

  /** Every agent whose terminal has a holder, with it. */
  held(): [string, Holder][] {
    return [...this.#holders.entries()];
  }

  /** The last size the controller of `agentId` sent, while it is online. */
  sizeOf(agentId: string): TerminalSize | null {
    return this.#sizes.get(agentId) ?? null;
  }

  /**
   * `session:control`: take (`take: true`) or release control of agent
   * `agentId`'s terminal for `who`'s connection. A change is broadcast to
   * every dashboard; when nothing changed, the returned `session:controller`
   * (the current holder) is for the sender alone, else null.
   *
   * @throws {FlightdeckError} FORBIDDEN for a viewer, NOT_FOUND for an
   * unknown agent, AGENT_OFFLINE to take control of an agent that is not
   * connected, NOT_CONTROLLER when another connection holds control and
   * `who` is not an admin.
   */
  control(
    who: Requester,
    agentId: string,
    take: boolean,
  ): ToDashboard<"session:controller"> | null {
    this.#requireOperator(who, "control terminals");
    const { registry } = this.#o;
    if (!registry.get(agentId)) {
      throw new FlightdeckError("NOT_FOUND", `Unknown agent "${agentId}"`);
    }
    const holder = this.holderOf(agentId);
    const mine = holder?.connectionId === who.connectionId;
    const admin = roleAllows(who.role, "admin");
    if (take) {
      if (!registry.isOnline(agentId)) {
        throw new FlightdeckError(
          "AGENT_OFFLINE",
          `Agent "${agentId}" is not connected`,
        );
      }
      if (mine) return this.#announcement(agentId);
      if (holder && !admin) throw this.#notController(agentId, holder);
      this.#set(agentId, {
        userId: who.userId,
        connectionId: who.connectionId,
      });
      return null;
    }
    if (!holder) return this.#announcement(agentId);
    if (!mine && !admin) throw this.#notController(agentId, holder);
    this.#set(agentId, null);
    return null;
  }

  /**
   * `terminal:input`: pass `data` unchanged to the agent's current command.
   *
   * @throws {FlightdeckError} as {@link resize}, and RATE_LIMIT over the
   * connection's messages or bytes per second (nothing is forwarded).
   */
  input(who: Requester, agentId: string, data: string): void {
    const commandId = this.#target(who, agentId, "type into terminals");
    this.#take(who.connectionId, byteLength(data));
    this.#o.sendToAgent(
      agentId,
      toAgent("terminal:input", { commandId, data }),
    );
  }

  /**
   * `terminal:resize`: pass the size to the agent's current command,
   * remember it for the agent, and report it to `onResize`.
   *
   * @throws {FlightdeckError} FORBIDDEN for a viewer, NOT_FOUND for an
   * unknown agent or one running no command, AGENT_OFFLINE for one not
   * connected, NOT_CONTROLLER unless `who`'s connection holds control,
   * RATE_LIMIT over the connection's messages per second.
   */
  resize(who: Requester, agentId: string, size: TerminalSize): void {
    const commandId = this.#target(who, agentId, "resize terminals");
    this.#take(who.connectionId, 0);
    this.#sizes.set(agentId, { cols: size.cols, rows: size.rows });
    const sent = this.#o.sendToAgent(
      agentId,
      toAgent("terminal:resize", { commandId, ...size }),
    );
    if (sent) this.#o.onResize?.(commandId, size);
  }

  /** Connection `connectionId` closed: release what it held, forget its rate. */
  connectionClosed(connectionId: string): void {
    this.#limits.delete(connectionId);
    for (const [agentId, holder] of [...this.#holders]) {
      if (holder.connectionId === connectionId) this.#set(agentId, null);
    }
  }

  /** Agent `agentId` went offline (or was forgotten): control ends. */
  agentOffline(agentId: string): void {
    this.#sizes.delete(agentId);
    if (this.#holders.has(agentId)) this.#set(agentId, null);
  }

  /** The command that input for `agentId` from `who` goes to. */
  #target(who: Requester, agentId: string, what: string): string {
    this.#requireOperator(who, what);
    const agent = this.#o.registry.requireOnline(agentId);
    const holder = this.holderOf(agentId);
    if (holder?.connectionId !== who.connectionId) {
      throw this.#notController(agentId, holder);
    }
    if (!agent.currentCommandId) {
      throw new FlightdeckError(
        "NOT_FOUND",
        `Agent "${agentId}" runs no command or session: there is no terminal to send to`,
      );
    }
    return agent.currentCommandId;
  }

  /** Count one message of `bytes` for the connection, or refuse it. */
  #take(connectionId: string, bytes: number): void {
    const now = this.#now();
    let limits = this.#limits.get(connectionId);
    if (!limits) {
      limits = {
        messages: new Bucket(this.#o.messagesPerSecond, now),
        bytes: new Bucket(this.#o.bytesPerSecond, now),
      };
      this.#limits.set(connectionId, limits);
    }
    if (!limits.messages.has(1, now)) {
      throw new FlightdeckError(
        "RATE_LIMIT",
        `Over ${this.#o.messagesPerSecond} terminal messages per second`,
      );
    }
    if (!limits.bytes.has(bytes, now)) {
      throw new FlightdeckError(
        "RATE_LIMIT",
        `Over ${this.#o.bytesPerSecond} bytes of terminal input per second`,
      );
    }
    limits.messages.take(1);
    limits.bytes.take(bytes);
  }

  #set(agentId: string, holder: Holder | null): void {
    if (holder) this.#holders.set(agentId, holder);
    else this.#holders.delete(agentId);
    this.#o.dashboards.broadcast(this.#announcement(agentId));
  }

  #announcement(agentId: string): ToDashboard<"session:controller"> {
    return toDashboard("session:controller", {
      agentId,
      holder: this.holderOf(agentId),
    });
  }

  #notController(agentId: string, holder: Holder | null): FlightdeckError {
    return new FlightdeckError(
      "NOT_CONTROLLER",
      holder
        ? `The terminal of agent "${agentId}" is controlled by "${holder.userId}" on another connection; take control first (an admin may take it over)`
        : `Nobody controls the terminal of agent "${agentId}"; take control first (session:control)`,
    );
  }

  #requireOperator(who: Requester, what: string): void {
    if (!roleAllows(who.role, "operator")) {
      throw new FlightdeckError(
        "FORBIDDEN",
        `Role "${who.role}" may not ${what}; it needs "operator"`,
      );
    }
  }
}
