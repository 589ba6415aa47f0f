/**
 * The cluster bus and agent presence on Redis, used when several server
 * processes share one Redis (`FLIGHTDECK_REDIS_URL`).
 *
 * - {@link ClusterBus}: Redis pub/sub. Every node subscribes (on a
 *   `duplicate()` connection) to `<prefix>bus`, which reaches every node,
 *   and to `<prefix>bus:<nodeId>`, which reaches only it. Redis delivers
 *   one publisher's messages in the order published, so what one node
 *   publishes arrives everywhere in that order. A message is one string:
 *   a JSON header line, a newline, then a body passed on as it is (an
 *   already-encoded dashboard frame, or JSON), so a frame is serialized
 *   once on the node that made it and never parsed to be forwarded.
 *   {@link ClusterBus.call} sends a request to one node and waits for its
 *   reply.
 * - {@link Presence}: `<prefix>owner:<agentId>` holds the id of the node
 *   holding the agent's socket, with a TTL renewed by the owner's
 *   heartbeat (only while it is still the value: a node that took the
 *   agent over is never overwritten); each claim of it, and each renewal
 *   that sets an expired record again, takes a new number from
 *   `<prefix>epoch:<agentId>` (fencing: a claim message with a lower
 *   number than one already seen is late and ignored);
 *   `<prefix>care:<agentId>` names the one node running an offline
 *   agent's lost timer, renewed by its heartbeat; `<prefix>node:<nodeId>`
 *   says a node is alive, with the same TTL.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { ErrorCode } from "../protocol.ts";
import { FlightdeckError } from "./errors.ts";

/** The header of every bus message. */
export interface BusHeader {
  /** Kind of message (see cluster_node.ts). */
  k: string;
  /** Sending node. */
  n: string;
  /** More fields, by kind. */
  [field: string]: unknown;
}

/** A received bus message: its header and its body as sent. */
export interface BusMessage {
  header: BusHeader;
  body: string;
}

/** Options of {@link ClusterBus.start}. */
export interface ClusterBusOptions {
  /** Prefix of channels and keys (default `fd:`). */
  prefix?: string;
  /** This node's id (default: a random UUID). */
  nodeId?: string;
  /** How long {@link ClusterBus.call} waits for a reply (default 5000 ms). */
  callTimeoutMs?: number;
  /** Called when a handler or a message fails; the bus goes on. */
  onError?: (error: unknown) => void;
}

/** Answers a {@link ClusterBus.call} on the node called. */
export type CallHandler = (args: unknown, from: string) => Promise<unknown>;

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Node-to-all and node-to-node messages over Redis pub/sub. */
export class ClusterBus {
  /** This node's id. */
  readonly nodeId: string;
  readonly prefix: string;
  #pub: Redis;
  #sub: Redis;
  #listeners: ((message: BusMessage) => void)[] = [];
  #reconnectListeners: (() => void)[] = [];
  #handlers = new Map<string, CallHandler>();
  #calls = new Map<string, PendingCall>();
  #callTimeoutMs: number;
  #onError: (error: unknown) => void;
  #closed = false;

  private constructor(pub: Redis, sub: Redis, options: ClusterBusOptions) {
    this.#pub = pub;
    this.#sub = sub;
    this.prefix = options.prefix ?? "fd:";
    this.nodeId = options.nodeId ?? crypto.randomUUID();
    this.#callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * Subscribe a duplicate of `redis` to this node's channels and return the
   * bus once the subscription is in place (messages published after that
   * reach it).
   */
  static async start(
    redis: Redis,
    options: ClusterBusOptions = {},
  ): Promise<ClusterBus> {
    // Queued until this connection is first ready (the subscription below
    // waits for it), then failing fast like `redis` (see connectRedis).
    const sub = redis.duplicate({ enableOfflineQueue: true });
    sub.once("ready", () => {
      sub.options.enableOfflineQueue = false;
    });
    const bus = new ClusterBus(redis, sub, options);
    sub.on("error", (error: Error) => bus.#onError(error));
    sub.on("message", (_channel: string, raw: string) => bus.#receive(raw));
    try {
      await sub.subscribe(bus.#allChannel, bus.#nodeChannel(bus.nodeId));
    } catch (error) {
      sub.disconnect();
      throw error;
    }
    // Connected again after losing Redis: messages published meanwhile are
    // lost. Subscribed again (idempotent), then the listeners are told.
    sub.on("ready", () => {
      if (bus.#closed) return;
      sub.subscribe(bus.#allChannel, bus.#nodeChannel(bus.nodeId)).then(
        () => {
          for (const listener of bus.#reconnectListeners) {
            try {
              listener();
            } catch (error) {
              bus.#onError(error);
            }
          }
        },
        (error) => bus.#onError(error),
      );
    });
    return bus;
  }

  get #allChannel(): string {
    return `${this.prefix}bus`;
  }

  #nodeChannel(node: string): string {
    return `${this.prefix}bus:${node}`;
  }

  /**
   * Call `listener` each time the bus is subscribed again after losing its
   * Redis connection (what was published meanwhile never arrived).
   */
  onReconnect(listener: () => void): void {
    this.#reconnectListeners.push(listener);
  }

  /** Call `listener` with every message from another node. */
  onMessage(listener: (message: BusMessage) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Publish to every node (this one does not get it). Resolves with how
   * many nodes were subscribed.
   */
  publish(
    kind: string,
    fields: Record<string, unknown> = {},
    body = "",
  ): Promise<number> {
    return this.#send(this.#allChannel, kind, fields, body);
  }

  /** Publish to node `node` only; resolves with 0 when it is not there. */
  send(
    node: string,
    kind: string,
    fields: Record<string, unknown> = {},
    body = "",
  ): Promise<number> {
    return this.#send(this.#nodeChannel(node), kind, fields, body);
  }

  #send(
    channel: string,
    kind: string,
    fields: Record<string, unknown>,
    body: string,
  ): Promise<number> {
    const header = JSON.stringify({ ...fields, k: kind, n: this.nodeId });
    return this.#pub.publish(channel, `${header}\n${body}`);
  }

  /** Answer calls of `action` with `handler` (its result is the reply). */
  handle(action: string, handler: CallHandler): void {
    this.#handlers.set(action, handler);
  }

  /**
   * Ask node `node` to run `action` with `args` and resolve with its
   * answer.
   *
   * @throws {FlightdeckError} with the code the handler threw; AGENT_OFFLINE
   * when the node is not subscribed; NODE_UNAVAILABLE when it does not
   * answer in time (it may still have done it).
   */
  async call(node: string, action: string, args: unknown): Promise<unknown> {
    const id = crypto.randomUUID();
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(
          new FlightdeckError(
            "NODE_UNAVAILABLE",
            `Server node "${node}" did not answer within ${
              this.#callTimeoutMs / 1000
            } s; it may still have done it (a command may be queued): check the history before retrying`,
          ),
        );
      }, this.#callTimeoutMs);
      this.#calls.set(id, { resolve, reject, timer });
    });
    answer.catch(() => {});
    let receivers: number;
    try {
      receivers = await this.send(
        node,
        "call",
        { id, a: action },
        JSON.stringify(args ?? null),
      );
    } catch (error) {
      this.#settle(id, null, error);
      return answer;
    }
    if (receivers === 0) {
      this.#settle(
        id,
        null,
        new FlightdeckError(
          "AGENT_OFFLINE",
          `Server node "${node}" is gone`,
        ),
      );
    }
    return answer;
  }

  #settle(id: string, value: unknown, error?: unknown): void {
    const pending = this.#calls.get(id);
    if (!pending) return;
    this.#calls.delete(id);
    clearTimeout(pending.timer);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(value);
  }

  #receive(raw: string): void {
    const newline = raw.indexOf("\n");
    if (newline < 0) return;
    let header: BusHeader;
    try {
      header = JSON.parse(raw.slice(0, newline));
    } catch (error) {
      this.#onError(error);
      return;
    }
    if (header.n === this.nodeId || this.#closed) return;
    const body = raw.slice(newline + 1);
    if (header.k === "call") return void this.#answer(header, body);
    if (header.k === "reply") {
      const id = String(header.id);
      if (header.ok) {
        let value: unknown = null;
        try {
          value = JSON.parse(body);
        } catch (error) {
          return this.#settle(id, null, error);
        }
        return this.#settle(id, value);
      }
      const code = String(header.code) as ErrorCode;
      return this.#settle(
        id,
        null,
        new FlightdeckError(code, String(header.message)),
      );
    }
    for (const listener of this.#listeners) {
      try {
        listener({ header, body });
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  async #answer(header: BusHeader, body: string): Promise<void> {
    const reply = (fields: Record<string, unknown>, value = "") =>
      this.send(header.n, "reply", { id: header.id, ...fields }, value)
        .catch(this.#onError);
    const handler = this.#handlers.get(String(header.a));
    if (!handler) {
      await reply({
        ok: false,
        code: "INTERNAL",
        message: `Unknown cluster action "${header.a}"`,
      });
      return;
    }
    try {
      const result = await handler(JSON.parse(body), header.n);
      await reply({ ok: true }, JSON.stringify(result ?? null));
    } catch (error) {
      if (!(error instanceof FlightdeckError)) this.#onError(error);
      await reply({
        ok: false,
        code: error instanceof FlightdeckError ? error.code : "INTERNAL",
        message: error instanceof FlightdeckError
          ? error.message
          : "Internal error on another server node",
      });
    }
  }

  /** Unsubscribe and fail the calls still waiting. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#calls.keys()]) {
      this.#settle(
        id,
        null,
        new FlightdeckError("AGENT_OFFLINE", "This server is closing"),
      );
    }
    if (this.#sub.status === "ready") {
      await this.#sub.quit().catch(() => this.#sub.disconnect());
    } else this.#sub.disconnect();
  }
}

/**
 * Renew `owner:<id>` keys whose value is this node, and set those that
 * expired (this node could not beat for a while, e.g. Redis was away),
 * taking a new claim number for each (`INCR epoch:<id>`); returns, for each
 * key set again, its index (1-based) and its claim number (KEYS: owner
 * keys then their epoch keys; ARGV: node, ttl).
 */
const RENEW = `
local again = {}
local n = #KEYS / 2
for i = 1, n do
  local key = KEYS[i]
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    again[#again + 1] = i
    again[#again + 1] = redis.call('INCR', KEYS[n + i])
  end
end
return again
`;

/**
 * Record this node as owner and take a new claim number (KEYS: owner key,
 * epoch key; ARGV: node, ttl); returns the claim number.
 */
const CLAIM = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
`;

/**
 * Renew `care:<id>` keys whose value is this node and set those that
 * expired (ARGV: node, ttl); those another node holds are left alone.
 */
const RENEW_CARE = `
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not holder then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  end
end
return 0
`;

/** Delete `owner:<id>` (or `care:<id>`) when its value is this node (ARGV: node). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** Who holds which agent, with a TTL (see the module doc). */
export class Presence {
  readonly nodeId: string;
  readonly ttlMs: number;
  #redis: Redis;
  #prefix: string;

  /**
   * @throws {RangeError} when `ttlMs` is under 100.
   */
  constructor(
    redis: Redis,
    options: { nodeId: string; ttlMs: number; prefix?: string },
  ) {
    if (!(options.ttlMs >= 100)) {
      throw new RangeError(
        `Presence TTL must be ≥ 100 ms, got ${options.ttlMs}`,
      );
    }
    this.#redis = redis;
    this.nodeId = options.nodeId;
    this.ttlMs = options.ttlMs;
    this.#prefix = options.prefix ?? "fd:";
  }

  #owner(agentId: string): string {
    return `${this.#prefix}owner:${agentId}`;
  }

  #epoch(agentId: string): string {
    return `${this.#prefix}epoch:${agentId}`;
  }

  #care(agentId: string): string {
    return `${this.#prefix}care:${agentId}`;
  }

  /**
   * Record this node as agent `agentId`'s owner (taking it over). Resolves
   * with the claim's number, higher than every earlier claim of the agent
   * (a claim message with a lower one is late and stands for nothing).
   */
  async claim(agentId: string): Promise<number> {
    return Number(
      await this.#redis.eval(
        CLAIM,
        2,
        this.#owner(agentId),
        this.#epoch(agentId),
        this.nodeId,
        String(this.ttlMs),
      ),
    );
  }

  /** Drop this node's ownership of `agentId` (not another node's). */
  async release(agentId: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.#owner(agentId), this.nodeId);
  }

  /**
   * Renew this node's ownership of `agentIds` (those another node took over
   * are left alone; those whose record expired are recorded again), its
   * own liveness, and the care records of `caring` (see {@link care}).
   * Resolves with the agents recorded again, and their new claim numbers:
   * the other nodes took them for offline.
   */
  async beat(
    agentIds: string[],
    caring: string[] = [],
  ): Promise<{ agentId: string; epoch: number }[]> {
    const multi = this.#redis.multi();
    multi.set(`${this.#prefix}node:${this.nodeId}`, "1", "PX", this.ttlMs);
    if (agentIds.length) {
      multi.eval(
        RENEW,
        agentIds.length * 2,
        ...agentIds.map((id) => this.#owner(id)),
        ...agentIds.map((id) => this.#epoch(id)),
        this.nodeId,
        String(this.ttlMs),
      );
    }
    if (caring.length) {
      multi.eval(
        RENEW_CARE,
        caring.length,
        ...caring.map((id) => this.#care(id)),
        this.nodeId,
        String(this.ttlMs),
      );
    }
    const results = await multi.exec();
    if (!results) throw new Error("Redis transaction was aborted");
    for (const [error] of results) if (error) throw error;
    if (!agentIds.length) return [];
    const again = results[1][1] as number[];
    const out: { agentId: string; epoch: number }[] = [];
    for (let i = 0; i + 1 < again.length; i += 2) {
      out.push({
        agentId: agentIds[again[i] - 1],
        epoch: Number(again[i + 1]),
      });
    }
    return out;
  }

  /**
   * Take care of agent `agentId` (run its lost timer) for the presence TTL
   * or `ms` (at least 1 ms), renewed by {@link beat}: true for one node
   * only (the first to ask) while the record lasts. With `force` the record
   * is taken whoever held it (the agent just left this node).
   */
  async care(
    agentId: string,
    ms = this.ttlMs,
    force = false,
  ): Promise<boolean> {
    const px = Math.max(1, Math.floor(ms));
    const set = force
      ? await this.#redis.set(this.#care(agentId), this.nodeId, "PX", px)
      : await this.#redis.set(this.#care(agentId), this.nodeId, "PX", px, "NX");
    return set === "OK";
  }

  /** Drop this node's care records of `agentIds` (it stops). */
  async releaseCare(agentIds: string[]): Promise<void> {
    for (const id of agentIds) {
      await this.#redis.eval(RELEASE, 1, this.#care(id), this.nodeId);
    }
  }

  /** The owner of agent `agentId` (null: none, its record expired). */
  async owner(agentId: string): Promise<string | null> {
    return await this.#redis.get(this.#owner(agentId));
  }

  /** The owner of each of `agentIds` (null: none, its key expired). */
  async owners(agentIds: string[]): Promise<(string | null)[]> {
    if (!agentIds.length) return [];
    return await this.#redis.mget(...agentIds.map((id) => this.#owner(id)));
  }

  /** Whether node `nodeId` beat within the TTL. */
  async alive(nodeId: string): Promise<boolean> {
    return await this.#redis.exists(`${this.#prefix}node:${nodeId}`) === 1;
  }
}
