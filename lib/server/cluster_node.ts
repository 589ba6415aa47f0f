/**
 * One server process in cluster mode: what it tells the other nodes and
 * what it does with what they tell it (over the {@link ClusterBus}).
 *
 * - Fan-out: every frame this node broadcasts to its dashboards is
 *   published once, as serialized (`f` messages, header: type, agent,
 *   command, seq), in broadcast order; output only once durable (see
 *   `Broadcaster.relay`), so every chunk another node forwards is in
 *   storage. Receiving nodes forward it as is to their dashboards and keep
 *   what snapshots need: every agent's status, queues and unfinished
 *   commands of agents held elsewhere, and per such command the seq its
 *   output reached this node's dashboards. A chunk past that seq + 1 (the
 *   node that sent the rest died before passing it on) is preceded by the
 *   missing chunks read from storage: no gap, no duplicate.
 * - Ownership: the node holding an agent's socket owns it ({@link Presence}
 *   key, renewed every third of its TTL). A node that gets the agent's
 *   socket claims it (`claim`, with a claim number; a claim not above the
 *   highest seen is late and ignored): the previous owner drops what it
 *   held of the agent, writing nothing, and answers `released` (the new
 *   owner then reads the agent's queue again). Agents whose owner key
 *   expired show offline on every node within the TTL plus one beat; when
 *   their node died too, one node (holding the care record) runs their
 *   lost timer.
 * - Routing: requests and interrupts for an agent held elsewhere are calls
 *   to its node (a node that no longer owns the agent names the new
 *   owner); an emergency stop is published to every node (`stop`).
 * - Screens: a dashboard that resumes a command held elsewhere with
 *   `snapshot: true` gets the owner's latest `terminal:snapshot` screen
 *   (a `screen` call); no answer within SCREEN_CALL_TIMEOUT_MS, none kept
 *   or one over MAX_REMOTE_SCREEN_CHARS: the stored output is replayed.
 * - A node that starts, or whose bus connection comes back, publishes
 *   `hello`; every node answers it with the state of the agents it holds.
 *
 * @module
 */
import {
  type AgentInfo,
  CLOSE_CODES,
  type CommandInfo,
  FINAL_STATUSES,
  type ToDashboard,
  toDashboard,
} from "../protocol.ts";
import type { Broadcaster } from "./broadcaster.ts";
import { FlightdeckError } from "./errors.ts";
import type { BusHeader, ClusterBus, Presence } from "./cluster.ts";
import type {
  Actor,
  CommandCluster,
  CommandRequest,
  CommandService,
  QueueEntry,
  ScreenSnapshot,
} from "./commands.ts";
import type { Logger } from "./logger.ts";
import type { Registry } from "./registry.ts";
import type { CallHandler } from "./cluster.ts";
import type { Holder, Requester, SessionControl } from "./session_control.ts";

/** What a dashboard asks of the terminal of an agent held elsewhere. */
export type TerminalOp =
  | { op: "control"; take: boolean }
  | { op: "input"; data: string }
  | { op: "resize"; cols: number; rows: number }
  | { op: "restart" };

/** The answer to a `control` {@link TerminalOp}. */
export interface ControlAnswer {
  /** The current holder, for the sender alone, when nothing changed. */
  unchanged: ToDashboard<"session:controller"> | null;
  before: Holder | null;
  after: Holder | null;
}

/**
 * Characters of frames waiting to be published past which new ones are
 * dropped (Redis slow or away): a receiving node fills dropped output in
 * from storage with the next chunk it gets.
 */
export const MAX_OUTBOX_CHARS = 64 * 1024 * 1024;

/**
 * Characters of received messages waiting to be handled past which output
 * frames are dropped (filled in from storage with the next one).
 */
export const MAX_INBOX_CHARS = 64 * 1024 * 1024;

/**
 * Characters of a screen snapshot one node passes to another at most (the
 * agent's are at most `LIMITS.maxSnapshotBytes`); a larger one is not sent.
 */
export const MAX_REMOTE_SCREEN_CHARS = 4 * 1024 * 1024;

/**
 * How long a node waits for the owner's screen (see
 * {@link ClusterNode.screen}) before replaying the stored output instead.
 */
export const SCREEN_CALL_TIMEOUT_MS = 1000;

/** A screen of another node's command, with that command's output size. */
export interface RemoteScreen extends ScreenSnapshot {
  /** The command's output bytes on its node when the screen was read. */
  outputBytes: number;
}

/** Ended commands remembered to ignore their late output. */
export const MAX_ENDED = 10_000;

/** Remote dashboard connections holding control remembered at most. */
export const MAX_REMOTE_CONTROLLERS = 10_000;

/** Options of {@link ClusterNode}. */
export interface ClusterNodeOptions {
  bus: ClusterBus;
  presence: Presence;
  registry: Registry;
  dashboards: Broadcaster;
  log: Logger;
  /**
   * How long a running command of an agent whose node died waits for the
   * agent before it ends `lost` (the lost timer runs on one surviving node).
   */
  lostAfterMs: number;
}

/** The cluster side of one server process (see the module doc). */
export class ClusterNode implements CommandCluster {
  #o: ClusterNodeOptions;
  #commands: CommandService | null = null;
  #control: SessionControl | null = null;
  /** Agents held by other nodes: their node. */
  #owners = new Map<string, string>();
  /** Who controls the terminals of agents held elsewhere. */
  #holders = new Map<string, Holder>();
  #remoteQueues = new Map<string, QueueEntry[]>();
  /** Unfinished commands of agents held elsewhere, as last announced. */
  #remoteCommands = new Map<string, CommandInfo>();
  /** Per such command, the seq its output reached this node's dashboards. */
  #forwarded = new Map<string, number>();
  /**
   * Commands of agents held elsewhere that ended lately (the newest
   * MAX_ENDED): their late output is not forwarded nor tracked again.
   */
  #ended = new Set<string>();
  /** Frames to publish, in broadcast order (output waits to be durable). */
  #outbox: Promise<unknown> = Promise.resolve();
  /** Characters of the frames in {@link #outbox}. */
  #outboxChars = 0;
  /** Frames dropped for {@link MAX_OUTBOX_CHARS} since the last warning. */
  #dropped = 0;
  #droppedWarnedAt = Number.NEGATIVE_INFINITY;
  /** Frames received, handled one at a time in arrival order. */
  #inbox: Promise<unknown> = Promise.resolve();
  /** Characters of the messages waiting in {@link #inbox}. */
  #inboxChars = 0;
  /**
   * Per agent, the highest claim number seen (its own claims and others'):
   * a claim with a number not above it is late and ignored.
   */
  #epochs = new Map<string, number>();
  /**
   * Offline agents whose state this node holds and whose care record it
   * renews (it runs their lost timer, or will when they ran something).
   */
  #caring = new Set<string>();
  /**
   * Dashboard connections of other nodes that took control of a terminal
   * of an agent held here: their node (their control ends when that node
   * dies: it cannot say they closed). At most MAX_REMOTE_CONTROLLERS.
   */
  #controllers = new Map<string, string>();
  /** Beats since the last look for agents no node holds. */
  #beatsSinceOrphans = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #resyncTimer: ReturnType<typeof setTimeout> | undefined;
  #beating = false;
  #closed = false;

  constructor(options: ClusterNodeOptions) {
    this.#o = options;
  }

  /** This node's id. */
  get nodeId(): string {
    return this.#o.bus.nodeId;
  }

  /**
   * Start: answer calls, beat, watch the owners of remote agents, and ask
   * the other nodes for the state of the agents they hold.
   */
  async attach(
    commands: CommandService,
    control: SessionControl,
  ): Promise<void> {
    this.#commands = commands;
    this.#control = control;
    const { bus } = this.#o;
    bus.handle("request", async (args) => {
      const { user, input, requestId } = args as {
        user: { id: string };
        input: CommandRequest;
        requestId?: string;
      };
      // Only while this node owns the agent: during a takeover the caller
      // is told the new owner (a request taken just before this node lets
      // go is read again by the new owner, see "released").
      const owner = await this.#o.presence.owner(input.agentId);
      if (owner !== this.nodeId) return { moved: owner };
      return await commands.request(user, input, {
        requestId,
        forwarded: true,
      });
    });
    bus.handle("interrupt", (args) => {
      const { commandId, reason, by } = args as {
        commandId: string;
        reason: string;
        by: Actor;
      };
      return commands.interrupt(commandId, reason, by, { forwarded: true });
    });
    bus.handle("screen", async (args) => {
      const { commandId } = (args ?? {}) as { commandId?: unknown };
      if (typeof commandId !== "string") return null;
      const screen = commands.latestScreen(commandId);
      if (!screen || screen.data.length > MAX_REMOTE_SCREEN_CHARS) return null;
      const outputBytes = (await commands.get(commandId))?.outputBytes ?? 0;
      return { ...screen, outputBytes } satisfies RemoteScreen;
    });
    bus.onMessage(({ header, body }) => {
      // Output past the backlog cap is dropped (the next chunk that gets
      // through fills it in from storage); everything else waits its turn.
      const output = header.k === "f" &&
        (header.t === "terminal:output" || header.t === "terminal:gap");
      if (output && this.#inboxChars + body.length > MAX_INBOX_CHARS) return;
      this.#inboxChars += body.length;
      this.#inbox = this.#inbox.then(() => this.#receive(header, body)).catch(
        (error) =>
          this.#o.log.error("Cluster message failed", {
            kind: header.k,
            error: String(error),
          }),
      ).finally(() => this.#inboxChars -= body.length);
    });
    await this.#beat();
    this.#timer = setInterval(
      () => void this.#beat(),
      Math.max(50, Math.floor(this.#o.presence.ttlMs / 3)),
    );
    bus.onReconnect(() => void this.#resync());
    await bus.publish("hello");
    void this.#careForOrphans();
  }

  /**
   * The bus lost Redis for a while: messages of the other nodes published
   * meanwhile never arrived. Say hello again (every node announces its
   * agents, queues and running commands again), and settle from storage
   * the commands held elsewhere that ended meanwhile.
   */
  async #resync(attempt = 1): Promise<void> {
    const commands = this.#commands;
    if (!commands || this.#closed) return;
    const { bus, dashboards, log } = this.#o;
    clearTimeout(this.#resyncTimer);
    try {
      if (attempt === 1) {
        log.info("Cluster bus connected again: resynchronizing");
      }
      this.#remoteQueues.clear();
      await bus.publish("hello");
      for (const id of [...this.#remoteCommands.keys()]) {
        const info = await commands.get(id);
        if (!info || !FINAL_STATUSES.has(info.status)) continue;
        if (!this.#remoteCommands.delete(id)) continue;
        this.#forwarded.delete(id);
        commands.noteRemote(info);
        dashboards.broadcastFrame(
          JSON.stringify(toDashboard("command:status", { command: info })),
        );
      }
    } catch (error) {
      // The publishing connection may come back after the subscriber.
      if (attempt === 1) {
        log.warn("Cluster resync failed; trying again", {
          error: String(error),
        });
      }
      this.#resyncTimer = setTimeout(
        () => void this.#resync(attempt + 1),
        Math.min(100 * attempt, 1000),
      );
    }
  }

  /**
   * At start and then every presence TTL: agents with running commands
   * that no node holds and no node takes care of (their node stopped, or
   * every node did) get their lost timer on one node, as a server
   * restarted alone arms it for every agent.
   */
  async #careForOrphans(): Promise<void> {
    try {
      const commands = this.#commands!;
      const ids = (await commands.runningAgents()).filter((id) =>
        !this.#owners.has(id) && !commands.holds(id)
      );
      const owners = await this.#o.presence.owners(ids);
      for (const [i, id] of ids.entries()) {
        if (owners[i] === null) await this.#care(id);
      }
    } catch (error) {
      this.#o.log.error("Cannot look for agents no node holds", {
        error: String(error),
      });
    }
  }

  /**
   * Answer calls of `action` from other nodes with `handler` (`terminal`:
   * remembering which node's connection takes control).
   */
  handle(action: string, handler: CallHandler): void {
    if (action !== "terminal") return this.#o.bus.handle(action, handler);
    this.#o.bus.handle(action, (args, from) => {
      const { who, op } = args as {
        who?: { connectionId?: unknown };
        op?: { op?: unknown; take?: unknown };
      };
      const connectionId = who?.connectionId;
      if (
        op?.op === "control" && op.take === true &&
        typeof connectionId === "string"
      ) {
        this.#controllers.delete(connectionId);
        this.#controllers.set(connectionId, from);
        if (this.#controllers.size > MAX_REMOTE_CONTROLLERS) {
          this.#controllers.delete(this.#controllers.keys().next().value!);
        }
      }
      return handler(args, from);
    });
  }

  /**
   * Control held by connections of nodes that died ends (their node
   * cannot say they closed); connections that hold nothing are forgotten.
   */
  async #dropDeadControllers(): Promise<void> {
    const control = this.#control;
    if (!control || !this.#controllers.size) return;
    const holding = new Set(control.held().map(([, h]) => h.connectionId));
    const nodes = new Set<string>();
    for (const [connectionId, node] of this.#controllers) {
      if (holding.has(connectionId)) nodes.add(node);
      else this.#controllers.delete(connectionId);
    }
    for (const node of nodes) {
      if (await this.#o.presence.alive(node)) continue;
      for (const [connectionId, of] of [...this.#controllers]) {
        if (of !== node) continue;
        this.#controllers.delete(connectionId);
        control.connectionClosed(connectionId);
      }
    }
  }

  /**
   * Pass a dashboard's terminal message for agent `agentId` to its node
   * `node`, acting as `who` (whose connection is on this node).
   */
  async terminal(
    node: string,
    who: Requester,
    agentId: string,
    op: TerminalOp,
  ): Promise<ControlAnswer | null> {
    return await this.#o.bus.call(node, "terminal", {
      who: {
        userId: who.userId,
        role: who.role,
        connectionId: who.connectionId,
      },
      agentId,
      op,
    }) as ControlAnswer | null;
  }

  /**
   * The latest screen of command `commandId` of agent `agentId` held by
   * another node, asked of that node; null when no other node holds the
   * agent, its node keeps no screen of it (or one over
   * MAX_REMOTE_SCREEN_CHARS), or does not answer within
   * SCREEN_CALL_TIMEOUT_MS. Never throws.
   */
  async screen(
    agentId: string,
    commandId: string,
  ): Promise<RemoteScreen | null> {
    const node = this.ownerElsewhere(agentId);
    if (!node || this.#closed) return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const call = this.#o.bus.call(node, "screen", { commandId });
      // Its failure after the timeout below is not worth a rejection.
      call.catch(() => {});
      const reply = await Promise.race([
        call,
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), SCREEN_CALL_TIMEOUT_MS);
        }),
      ]);
      return remoteScreenOf(reply);
    } catch (error) {
      this.#o.log.warn("Cannot get a screen from another node", {
        node,
        commandId,
        error: String(error),
      });
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Dashboard connection `connectionId` of this node closed: the node
   * holding a terminal it controlled releases it.
   */
  connectionClosed(connectionId: string): void {
    if (
      ![...this.#holders.values()].some((h) => h.connectionId === connectionId)
    ) {
      return;
    }
    this.#o.bus.publish("closed", { c: connectionId }).catch(() => {});
  }

  /** Who controls the terminals of agents held elsewhere. */
  remoteHolders(): [string, Holder][] {
    return [...this.#holders.entries()];
  }

  /**
   * `Broadcaster.relay`: publish `frame` to the other nodes, after every
   * frame relayed before it, and once `durable` resolves (a frame whose
   * output was not stored is not published: the agent sends it again).
   */
  relay(frame: string, message: ToDashboard, durable?: Promise<unknown>): void {
    if (this.#closed) return;
    // Only output is dropped (a receiving node fills it in from storage);
    // state changes always go.
    const output = message.type === "terminal:output" ||
      message.type === "terminal:gap";
    if (output && this.#outboxChars + frame.length > MAX_OUTBOX_CHARS) {
      this.#dropped++;
      if (Date.now() - this.#droppedWarnedAt > 10_000) {
        this.#o.log.warn("Cluster fan-out behind: frames dropped", {
          dropped: this.#dropped,
        });
        this.#dropped = 0;
        this.#droppedWarnedAt = Date.now();
      }
      return;
    }
    this.#outboxChars += frame.length;
    const header = headerOf(message);
    // Issued in order without waiting for one another (the connection keeps
    // their order); counted until Redis answers, or until skipped.
    let counted = true;
    const uncount = () => {
      if (counted) this.#outboxChars -= frame.length;
      counted = false;
    };
    const publish = () => {
      try {
        this.#o.bus.publish("f", header, frame).catch((error) =>
          this.#o.log.warn("Cluster publish failed", { error: String(error) })
        ).finally(uncount);
      } catch (error) {
        uncount();
        throw error;
      }
    };
    this.#enqueue(
      durable ? () => Promise.resolve(durable).then(publish, uncount) : publish,
    );
  }

  /**
   * Run `task` after every task queued before it; a task that fails is
   * logged and the next ones run.
   */
  #enqueue(task: () => unknown): void {
    this.#outbox = this.#outbox.then(task).catch((error) =>
      this.#o.log.error("Cluster fan-out task failed", {
        error: String(error),
      })
    );
  }

  /**
   * Take agent `agentId` over: this node holds its socket from now on.
   * The previous owner drops what it held of it.
   */
  async claim(agentId: string): Promise<void> {
    this.#owners.delete(agentId);
    this.#remoteQueues.delete(agentId);
    this.#holders.delete(agentId);
    this.#caring.delete(agentId);
    const epoch = await this.#o.presence.claim(agentId);
    this.#seen(agentId, epoch);
    await this.#o.bus.publish("claim", { a: agentId, e: epoch });
  }

  /**
   * Note claim number `epoch` of agent `agentId`; false when it is not
   * above the highest seen (a late claim).
   */
  #seen(agentId: string, epoch: number): boolean {
    if (!(epoch > (this.#epochs.get(agentId) ?? 0))) return false;
    this.#epochs.set(agentId, epoch);
    return true;
  }

  /**
   * Agent `agentId`'s socket here closed: no node holds it now. When its
   * lost timer runs here, this node takes its care record (renewed while
   * it holds the agent's state) so that the others leave it alone until
   * this node stops.
   */
  disconnected(agentId: string): void {
    const { presence, log } = this.#o;
    presence.release(agentId).catch((error) =>
      log.warn("Cannot release an agent's owner record", {
        agentId,
        error: String(error),
      })
    );
    if (!this.#commands?.losing(agentId)) return;
    this.#caring.add(agentId);
    presence.care(agentId, presence.ttlMs, true).catch((error) =>
      log.warn("Cannot take an agent's care record", {
        agentId,
        error: String(error),
      })
    );
  }

  // CommandCluster

  ownerElsewhere(agentId: string): string | null {
    if (this.#o.registry.isOnline(agentId)) return null;
    return this.#owners.get(agentId) ?? null;
  }

  /**
   * Queue a command on `node`; when that node no longer owns the agent,
   * on the node that does (this one included; at most two moves).
   *
   * @throws {FlightdeckError} AGENT_OFFLINE when no node owns it.
   */
  async request(
    node: string,
    user: { id: string },
    input: CommandRequest,
    requestId?: string,
  ): Promise<{ command: CommandInfo; duplicate: boolean; remote: true }> {
    for (let moves = 0;; moves++) {
      const result = await this.#o.bus.call(node, "request", {
        user: { id: user.id },
        input,
        requestId,
      }) as { command: CommandInfo; duplicate: boolean } | {
        moved: string | null;
      };
      if (!("moved" in result)) return { ...result, remote: true };
      if (result.moved === null || moves >= 2) {
        throw new FlightdeckError(
          "AGENT_OFFLINE",
          `Agent "${input.agentId}" is not connected`,
        );
      }
      if (result.moved === this.nodeId) {
        const here = await this.#commands!.request(user, input, {
          requestId,
          forwarded: true,
        });
        return { ...here, remote: true };
      }
      node = result.moved;
    }
  }

  async interrupt(
    node: string,
    commandId: string,
    reason: string,
    by: Actor,
  ): Promise<CommandInfo> {
    return await this.#o.bus.call(node, "interrupt", {
      commandId,
      reason,
      by: { actor: by.actor, role: by.role },
    }) as CommandInfo;
  }

  stopElsewhere(reason: string, by: Actor): void {
    this.#o.bus.publish("stop", {
      reason,
      by: { actor: by.actor, role: by.role },
    }).catch((error) =>
      this.#o.log.error("Cannot send the emergency stop to other nodes", {
        error: String(error),
      })
    );
  }

  forwardedSeq(commandId: string): number | undefined {
    return this.#forwarded.get(commandId);
  }

  forwardedSeqs(): Map<string, number> {
    return new Map(this.#forwarded);
  }

  takeOver(commandId: string): number | undefined {
    const seq = this.#forwarded.get(commandId);
    this.#forwarded.delete(commandId);
    this.#remoteCommands.delete(commandId);
    return seq;
  }

  handOver(commandId: string, seq: number): void {
    this.#forwarded.set(commandId, seq);
  }

  remoteQueue(agentId: string): QueueEntry[] | undefined {
    return this.#remoteQueues.get(agentId);
  }

  remoteQueuedAgents(): string[] {
    return [...this.#remoteQueues.keys()];
  }

  remoteUnfinished(): CommandInfo[] {
    return [...this.#remoteCommands.values()];
  }

  async mayEndLost(agentId: string): Promise<boolean> {
    return await this.#o.presence.owner(agentId) === null;
  }

  /**
   * Renew presence and care records; mark agents of vanished owners
   * offline here; every third beat (every TTL), look for agents no node
   * holds.
   */
  async #beat(): Promise<void> {
    if (this.#beating || this.#closed) return;
    this.#beating = true;
    const { presence, registry, dashboards, log, bus } = this.#o;
    try {
      const commands = this.#commands;
      // Care records of agents whose state is still here and offline.
      for (const id of this.#caring) {
        if (registry.isOnline(id) || !commands?.holds(id)) {
          this.#caring.delete(id);
        }
      }
      const again = await presence.beat(registry.onlineIds(), [
        ...this.#caring,
      ]);
      // Back after the other nodes took them for offline (and one may have
      // taken care of them): claim them again and say they are not.
      for (const { agentId, epoch } of again) {
        this.#seen(agentId, epoch);
        await bus.publish("claim", { a: agentId, e: epoch });
        const agent = registry.get(agentId);
        if (agent) {
          this.relay(
            JSON.stringify(toDashboard("agent:status", { agent })),
            toDashboard("agent:status", { agent }),
          );
        }
      }
      const ids = [...this.#owners.keys()];
      const owners = await presence.owners(ids);
      for (const [i, id] of ids.entries()) {
        const owner = owners[i];
        if (owner === this.nodeId) continue;
        if (owner !== null) {
          this.#owners.set(id, owner);
          continue;
        }
        // Nobody holds it now (its node let it go, died, or lost Redis):
        // offline here.
        const last = this.#owners.get(id)!;
        const info = registry.markRemoteOffline(id);
        if (info) {
          dashboards.broadcastFrame(
            JSON.stringify(toDashboard("agent:status", { agent: info })),
          );
        }
        // Its record expired while its node still beats (Redis was away
        // longer than the TTL), or its node let it go and the news was
        // lost: kept as that node's (which sets the record again and claims
        // it at its next beat if it holds it); nobody takes care of it.
        if (await presence.alive(last)) continue;
        if (this.#owners.get(id) !== last) continue;
        this.#owners.delete(id);
        // Its node died: one node runs its lost timer (later beats find it
        // with the orphans when it was offline here already).
        if (info) void this.#care(id);
      }
      if (commands && ++this.#beatsSinceOrphans >= 3) {
        this.#beatsSinceOrphans = 0;
        await this.#careForOrphans();
        await this.#dropDeadControllers();
      }
    } catch (error) {
      log.warn("Cluster heartbeat failed", { error: String(error) });
    } finally {
      this.#beating = false;
    }
  }

  /**
   * Agent `agentId` is held by no node (its node died or stopped): one
   * node (the first to take its care record) loads its state and runs its
   * lost timer, renewing the record while it does (what it ran ends `lost`
   * unless it connects to a node first, which then takes it over).
   */
  async #care(agentId: string): Promise<void> {
    const commands = this.#commands!;
    const { presence, registry } = this.#o;
    try {
      if (!await presence.care(agentId)) return;
      // Under the commands lock: an agent connecting here, or a node
      // claiming it meanwhile, wins.
      const adopted = await commands.adopt(
        agentId,
        async () =>
          !registry.isOnline(agentId) && !this.#owners.has(agentId) &&
          await presence.owner(agentId) === null,
      );
      if (!adopted) return;
      this.#caring.add(agentId);
      commands.agentDisconnected(agentId);
    } catch (error) {
      this.#o.log.error("Cannot take care of an agent whose node died", {
        agentId,
        error: String(error),
      });
    }
  }

  /**
   * Whether a frame about agent `agentId` from node `node` comes from a node
   * that no longer holds it (another node took it over since): its frames
   * published before it let go may arrive after the new node's.
   */
  #stale(agentId: string, node: string): boolean {
    const owner = this.#owners.get(agentId);
    return (owner !== undefined && owner !== node) ||
      this.#o.registry.isOnline(agentId);
  }

  async #receive(header: BusHeader, body: string): Promise<void> {
    const commands = this.#commands;
    if (!commands || this.#closed) return;
    switch (header.k) {
      case "f":
        return await this.#frame(header, body);
      case "hello":
        return this.#announce(header.n);
      case "closed":
        this.#controllers.delete(String(header.c));
        this.#control?.connectionClosed(String(header.c));
        return;
      case "claim": {
        const agentId = String(header.a);
        // Fencing: a claim older than one seen (or than this node's own)
        // is late; the agent's socket here stays.
        if (!this.#seen(agentId, Number(header.e))) {
          this.#o.log.warn("Late claim of an agent ignored", {
            agentId,
            node: header.n,
          });
          return;
        }
        this.#owners.set(agentId, header.n);
        this.#caring.delete(agentId);
        const peer = this.#o.registry.release(agentId);
        await commands.release(agentId);
        peer?.close(
          CLOSE_CODES.REPLACED.code,
          "Agent connected again to another server",
        );
        // Everything this node queued for it is in storage now.
        await this.#o.bus.send(header.n, "released", { a: agentId });
        return;
      }
      case "released": {
        // The node that held the agent let it go: what it queued while
        // this node took it over is queued here too.
        const agentId = String(header.a);
        await commands.reloadQueue(
          agentId,
          async () => await this.#o.presence.owner(agentId) === this.nodeId,
        );
        return;
      }
      case "stop": {
        const { reason, by } = header as unknown as {
          reason: string;
          by: Actor;
        };
        const result = await commands.emergencyStop(reason, by, {
          forwarded: true,
        });
        this.#o.log.warn("Emergency stop from another node", {
          by: by.actor,
          ...result,
        });
        return;
      }
    }
  }

  /** A frame another node broadcast: keep what snapshots need, forward it. */
  async #frame(header: BusHeader, frame: string): Promise<void> {
    const { registry, dashboards } = this.#o;
    const commands = this.#commands!;
    switch (header.t) {
      case "agent:status": {
        const { agent } = JSON.parse(frame).payload as { agent: AgentInfo };
        if (this.#stale(agent.id, header.n)) return;
        if (agent.status === "offline") {
          if (this.#owners.get(agent.id) === header.n) {
            this.#owners.delete(agent.id);
          }
          this.#holders.delete(agent.id);
        } else this.#owners.set(agent.id, header.n);
        registry.applyRemote(agent);
        break;
      }
      case "command:status": {
        const { command } = JSON.parse(frame).payload as {
          command: CommandInfo;
        };
        const final = FINAL_STATUSES.has(command.status);
        // A final state stands whoever says it (a command ends once).
        if (!final && this.#stale(command.agentId, header.n)) return;
        if (final) {
          this.#remoteCommands.delete(command.id);
          this.#forwarded.delete(command.id);
          this.#ended.add(command.id);
          if (this.#ended.size > MAX_ENDED) {
            this.#ended.delete(this.#ended.values().next().value!);
          }
        } else {
          this.#remoteCommands.set(command.id, command);
          if (!this.#forwarded.has(command.id)) {
            this.#forwarded.set(command.id, 0);
          }
        }
        commands.noteRemote(command);
        break;
      }
      case "command:queue": {
        const { agentId, queue } = JSON.parse(frame).payload as {
          agentId: string;
          queue: QueueEntry[];
        };
        if (this.#stale(agentId, header.n)) return;
        if (queue.length) this.#remoteQueues.set(agentId, queue);
        else this.#remoteQueues.delete(agentId);
        break;
      }
      case "terminal:output":
      case "terminal:gap": {
        const agentId = String(header.a);
        // Held here now: this node broadcasts its output itself (a late
        // frame of the node that held it before is not passed on).
        if (registry.isOnline(agentId)) return;
        const commandId = String(header.c);
        // Ended: a late frame of a node that held the agent before (its
        // final state went out already; the output is in storage).
        if (this.#ended.has(commandId)) return;
        const from = Number(header.f);
        const to = Number(header.s);
        const seen = this.#forwarded.get(commandId);
        if (seen !== undefined) {
          if (to <= seen) return;
          // Durable before published: what is missing is in storage.
          if (from > seen + 1) {
            await commands.catchUp(agentId, commandId, seen, from - 1);
          }
        }
        this.#forwarded.set(commandId, to);
        break;
      }
      case "session:controller": {
        const { agentId, holder } = JSON.parse(frame).payload as {
          agentId: string;
          holder: Holder | null;
        };
        if (this.#stale(agentId, header.n)) return;
        if (holder) this.#holders.set(agentId, holder);
        else this.#holders.delete(agentId);
        break;
      }
      case "agent:removed": {
        const agentId = String(header.a);
        this.#owners.delete(agentId);
        this.#epochs.delete(agentId);
        this.#remoteQueues.delete(agentId);
        registry.remove(agentId);
        break;
      }
      case "pos": {
        const commandId = String(header.c);
        if (!this.#forwarded.has(commandId)) {
          this.#forwarded.set(commandId, Number(header.s));
        }
        return;
      }
    }
    dashboards.broadcastFrame(
      frame,
      undefined,
      header.t === "terminal:output"
        ? { commandId: String(header.c), seq: Number(header.s) }
        : undefined,
    );
  }

  /**
   * Tell node `node` (which just started) the state of the agents this node
   * holds: status, queue, unfinished commands and how far their output is
   * stored, in order with the frames relayed before.
   */
  #announce(node: string): void {
    const commands = this.#commands!;
    const { registry, bus } = this.#o;
    const sendNow = (message: ToDashboard) =>
      bus.send(node, "f", headerOf(message), JSON.stringify(message))
        .catch(() => 0);
    const send = (message: ToDashboard) => {
      this.#enqueue(() => sendNow(message));
    };
    for (const agentId of registry.onlineIds()) {
      const agent = registry.get(agentId);
      if (agent) send(toDashboard("agent:status", { agent }));
      send(toDashboard("command:queue", {
        agentId,
        queue: commands.queueOf(agentId),
      }));
    }
    for (const [commandId, seq] of commands.broadcastSeqs()) {
      if (this.#forwarded.has(commandId)) continue;
      const stored = commands.outputLog.stored(commandId).catch(() => {});
      this.#enqueue(async () => {
        const info = await commands.get(commandId);
        if (!info || !registry.isOnline(info.agentId)) return;
        // Where its output stands first: the status must not start it at 0.
        await stored;
        await bus.send(node, "f", { t: "pos", c: commandId, s: seq }, "")
          .catch(() => 0);
        await sendNow(toDashboard("command:status", { command: info }));
      });
    }
  }

  /**
   * Stop beating, drop its care records and unsubscribe (the owner keys
   * expire on their own).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#resyncTimer);
    // Another node runs their lost timers from now on.
    await this.#o.presence.releaseCare([...this.#caring]).catch(() => {});
    await this.#outbox.catch(() => {});
    await this.#o.bus.close();
  }
}

/** The bus header of a relayed frame: its type and what it is about. */
function headerOf(message: ToDashboard): Record<string, unknown> {
  switch (message.type) {
    case "terminal:output":
      return {
        t: message.type,
        a: message.payload.agentId,
        c: message.payload.commandId,
        f: message.payload.seq,
        s: message.payload.seq,
      };
    case "terminal:gap":
      return {
        t: message.type,
        a: message.payload.agentId,
        c: message.payload.commandId,
        f: message.payload.fromSeq,
        s: message.payload.toSeq,
      };
    case "agent:removed":
      return { t: message.type, a: message.payload.agentId };
    default:
      return { t: message.type };
  }
}

/** `reply` as a {@link RemoteScreen}, or null when it is not a valid one. */
function remoteScreenOf(reply: unknown): RemoteScreen | null {
  if (!reply || typeof reply !== "object") return null;
  const { seq, cols, rows, data, outputBytes } = reply as Record<
    string,
    unknown
  >;
  const count = (n: unknown, min: number): n is number =>
    Number.isSafeInteger(n) && (n as number) >= min;
  if (
    !count(seq, 1) || !count(cols, 1) || !count(rows, 1) ||
    !count(outputBytes, 0) || typeof data !== "string" ||
    data.length > MAX_REMOTE_SCREEN_CHARS
  ) {
    return null;
  }
  return { seq, cols, rows, data, outputBytes };
}
