/**
 * Per-agent command queues and the command life cycle:
 * `queued → running → completed | failed | interrupted | timeout | lost`,
 * or `queued → cancelled`. Ends not of the program's own making carry who
 * ended it and why (`endedBy`).
 *
 * One command runs per agent; the queue orders by priority (high, normal,
 * low), then arrival. A session agent (capability `session`) runs its session
 * (kind `session`, see {@link CommandService.startSession}) and gets prompts
 * (kind `prompt`) instead: one in flight at a time, dispatched only while its
 * session runs and the agent reports `waiting` (see `#dispatch`). State
 * lives in Deno KV (see storage.ts) and is mirrored in memory; every change
 * is broadcast to dashboards.
 *
 * @module
 */
import {
  type AgentPayloads,
  byteLength,
  type CommandInfo,
  type EndedBy,
  FINAL_STATUSES,
  type PayloadOf,
  type Priority,
  type Stream,
  type ToAgent,
  toAgent,
  toDashboard,
} from "../protocol.ts";
import type { Broadcaster } from "./broadcaster.ts";
import { FlightdeckError, storageUnavailable } from "./errors.ts";
import type { Peer } from "./peer.ts";
import type { Registry } from "./registry.ts";
import {
  type CommandStore,
  PRIORITY_RANK,
  type StoredCommand,
  type TerminalSize,
} from "./storage.ts";
import { Mutex } from "./mutex.ts";
import {
  type EarlierPage,
  OutputLog,
  type OutputState,
  type ReadChunk,
} from "./output_log.ts";

/** Options of {@link CommandService.create}. */
export interface CommandServiceOptions {
  storage: CommandStore;
  registry: Registry;
  dashboards: Broadcaster;
  /** Send a message to a connected agent; false when it is not connected. */
  sendToAgent: (agentId: string, message: ToAgent) => boolean;
  maxQueuePerAgent: number;
  interruptGraceMs: number;
  /**
   * Output bytes stored per command: past it the oldest chunks of that
   * command are deleted down to 7/8 of it (never the newest chunk).
   * Default: no cap.
   */
  maxCommandOutputBytes?: number;
  /**
   * A running command whose agent went offline ends `lost` when the agent
   * is not back this long after (ms). Default two minutes.
   */
  lostAfterMs?: number;
  /**
   * Timeout (ms) of exec commands whose request and agent name none;
   * null or absent: none.
   */
  defaultTimeoutMs?: number | null;
  /** Wait this long before each output commit (tests only). Default 0. */
  outputCommitDelayMs?: number;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** Called when a running command's timeout fires, before it is interrupted. */
  onTimeout?: (command: CommandInfo) => void;
  /**
   * Cluster mode (several servers on one Redis, see cluster_node.ts): the
   * other nodes. Agent-scoped state (queues, dispatch, timers) is held only
   * by the node holding the agent's socket; requests for an agent held
   * elsewhere go there. Absent: one server, everything here.
   */
  cluster?: CommandCluster;
}

/** One queue entry as `command:queue` carries it. */
export interface QueueEntry {
  commandId: string;
  priority: Priority;
  position: number;
}

/** What the command service asks of the other nodes (cluster mode). */
export interface CommandCluster {
  /** The node holding `agentId`'s socket when another node does, else null. */
  ownerElsewhere(agentId: string): string | null;
  /** Queue a command on `node` (see {@link CommandService.request}). */
  request(
    node: string,
    user: { id: string },
    input: CommandRequest,
    requestId?: string,
  ): Promise<{ command: CommandInfo; duplicate: boolean; remote: true }>;
  /** Interrupt a command on `node` (see {@link CommandService.interrupt}). */
  interrupt(
    node: string,
    commandId: string,
    reason: string,
    by: Actor,
  ): Promise<CommandInfo>;
  /** Start an emergency stop on every other node. */
  stopElsewhere(reason: string, by: Actor): void;
  /**
   * A command run by an agent held elsewhere: the seq up to which its output
   * has reached this node's dashboards (undefined: not such a command).
   */
  forwardedSeq(commandId: string): number | undefined;
  /** {@link forwardedSeq} of every such command. */
  forwardedSeqs(): Map<string, number>;
  /**
   * This node holds the agent of `commandId` now: forget its forwarding and
   * return the seq forwarded so far (undefined: none).
   */
  takeOver(commandId: string): number | undefined;
  /**
   * Another node holds the agent of `commandId` now: this node's dashboards
   * got its output up to `seq`; later output comes from that node.
   */
  handOver(commandId: string, seq: number): void;
  /** The queue of an agent held elsewhere, as its node last announced it. */
  remoteQueue(agentId: string): QueueEntry[] | undefined;
  /** Agents held elsewhere with a non-empty queue. */
  remoteQueuedAgents(): string[];
  /** Unfinished commands of agents held elsewhere, as last announced. */
  remoteUnfinished(): CommandInfo[];
  /**
   * Whether what offline agent `agentId` ran may end `lost` here: no node
   * holds it (asked of Redis, when its lost timer fires).
   */
  mayEndLost(agentId: string): Promise<boolean>;
}

/** Who acts on a command: a signed-in user, an agent, or the server. */
export type Actor = Pick<EndedBy, "actor" | "role">;

/** The server itself, for ends it decides (timeouts, lost agents). */
export const SERVER_ACTOR: Actor = { actor: "server", role: "system" };

/** Default of {@link CommandServiceOptions.lostAfterMs}: two minutes. */
export const DEFAULT_LOST_AFTER_MS = 120_000;

/** What `command:request` asks for. */
export interface CommandRequest {
  agentId: string;
  command: string;
  priority: Priority;
  timeoutMs?: number;
}

interface Active {
  stored: StoredCommand;
  /**
   * Its output bookkeeping, kept by the output log (`lastSeq`: highest seq
   * received; `storedBytes`: bytes still stored).
   */
  out: OutputState;
  started: boolean;
  timer?: ReturnType<typeof setTimeout>;
  timedOut: boolean;
  /** The agent's latest screen snapshot (kept in memory while it runs). */
  screen?: ScreenSnapshot;
}

/** A running command's screen after its output up to `seq`. */
export interface ScreenSnapshot {
  seq: number;
  cols: number;
  rows: number;
  data: string;
}

/** One state change, kept for {@link CommandService.snapshot}. */
interface Change {
  version: number;
  stored: StoredCommand;
}

/** State changes remembered while snapshots are read outside the lock. */
const MAX_CHANGES = 5_000;

type Completed = PayloadOf<typeof AgentPayloads, "command:completed">;
type Output = PayloadOf<typeof AgentPayloads, "terminal:output">;
type Snapshot = PayloadOf<typeof AgentPayloads, "terminal:snapshot">;

/** An output chunk taken (see {@link CommandService.output}). */
export interface AcceptedOutput {
  /** The seq to acknowledge once `stored` resolves. */
  seq: number;
  /** Resolves when the chunk (and every earlier one) is stored. */
  stored: Promise<void>;
}

/** Queues, dispatch and the state machine of commands. */
export class CommandService {
  /** Agents being forgotten right now (see {@link forgetAgent}). */
  #forgetting = new Set<string>();
  #o: CommandServiceOptions;
  #queues = new Map<string, StoredCommand[]>();
  #active = new Map<string, Active>();
  #lastOrder = 0;
  #lock = new Mutex();
  /** Output of one agent is stored one chunk at a time, even across sockets. */
  #outputLocks = new Map<string, Mutex>();
  /**
   * State changes made while a snapshot is read (`#readers` > 0), oldest
   * first, numbered by `#version`; at most MAX_CHANGES, empty otherwise.
   */
  #changes: Change[] = [];
  #version = 0;
  #readers = 0;
  /** Per offline agent running something: its lost timer. */
  #lostTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Set by {@link close}. */
  #closed = false;

  /** The output of commands (appends, reads, earlier pages). */
  readonly outputLog: OutputLog;

  private constructor(options: CommandServiceOptions) {
    this.#o = options;
    this.outputLog = new OutputLog(options.storage.output, {
      maxCommandOutputBytes: options.maxCommandOutputBytes,
      commitDelayMs: options.outputCommitDelayMs,
      onError: (error) =>
        options.log?.("error", `Storing output failed: ${error}`),
      // Redis unreachable: output waits (unacknowledged) and is stored
      // once it is back.
      retryable: (error) => storageUnavailable(error) !== null,
      retryDelayMs: (attempt) => Math.min(100 * 2 ** (attempt - 1), 1000),
      onRetry: (error, attempt) => {
        if (attempt === 1) {
          options.log?.(
            "warn",
            `Storing output waits for the storage to come back: ${error}`,
          );
        }
      },
    });
  }

  /**
   * Create the service and restore queues and running commands from storage
   * (one server; in cluster mode each node loads an agent's when it connects).
   */
  static async create(options: CommandServiceOptions): Promise<CommandService> {
    const service = new CommandService(options);
    const { storage } = options;
    // Cluster mode: an agent's queue and running commands are loaded by the
    // node it connects to (adopt()), never by every node at start.
    if (options.cluster) return service;
    for (const [agentId, ids] of await storage.loadQueues()) {
      const list: StoredCommand[] = [];
      for (const id of ids) {
        const stored = await storage.getCommand(id);
        if (stored && stored.info.status === "queued") list.push(stored);
      }
      if (list.length) service.#queues.set(agentId, list);
    }
    for (const stored of await storage.loadDispatched()) {
      // outputBytes is only saved with state changes; the output bookkeeping
      // is written with every chunk (recounted for data of older versions).
      const out = await service.outputLog.restore(stored.info.id);
      stored.info.outputBytes = out.outputBytes;
      service.#active.set(stored.info.id, {
        stored,
        out,
        started: stored.info.status === "running",
        timedOut: false,
      });
      // A prompt runs inside the session, which stays the running command.
      if (stored.info.kind !== "prompt") {
        options.registry.setCurrentCommand(stored.info.agentId, stored.info.id);
      }
    }
    for (const active of service.#active.values()) service.#armTimeout(active);
    // Nobody is connected yet: agents that do not come back lose what ran.
    for (const active of service.#active.values()) {
      if (active.started) service.#armLost(active.stored.info.agentId);
    }
    return service;
  }

  /**
   * Queue a command. A repeated `requestId` from the same user returns the
   * original command instead of queuing again. To a session agent it is a
   * prompt (kind `prompt`), refused while the agent runs no session: a prompt
   * queued for a session that ended would wait for a restart that may never
   * come (queued prompts of a session that ends wait for its restart).
   *
   * In cluster mode a request for an agent held by another node is queued
   * there (`remote` in the answer; `forwarded`: it came from another node,
   * run it here).
   *
   * @throws {FlightdeckError} AGENT_OFFLINE, QUEUE_FULL; NOT_FOUND for a
   * session agent whose session is not running.
   */
  request(
    user: { id: string },
    input: CommandRequest,
    options: { requestId?: string; origin?: Peer; forwarded?: boolean } = {},
  ): Promise<{ command: CommandInfo; duplicate: boolean; remote?: true }> {
    const owner = options.forwarded
      ? null
      : this.#o.cluster?.ownerElsewhere(input.agentId);
    if (owner) {
      return this.#o.cluster!.request(owner, user, input, options.requestId);
    }
    return this.#lock.run(async () => {
      const { storage, registry } = this.#o;
      if (options.requestId) {
        const earlier = await storage.findRequest(user.id, options.requestId);
        const stored = earlier ? await storage.getCommand(earlier) : null;
        if (stored) {
          const info = this.#active.get(stored.info.id)?.stored.info ??
            stored.info;
          return { command: info, duplicate: true };
        }
      }
      if (!registry.isOnline(input.agentId)) {
        throw new FlightdeckError(
          "AGENT_OFFLINE",
          `Agent "${input.agentId}" is not connected`,
        );
      }
      const prompt = isSessionAgent(registry, input.agentId);
      if (prompt && !this.#sessionOf(input.agentId)) {
        throw new FlightdeckError(
          "NOT_FOUND",
          `Agent "${input.agentId}" runs no session (it ended or has not ` +
            `started): restart the session, then send the prompt`,
        );
      }
      const queue = this.#queues.get(input.agentId) ?? [];
      if (queue.length >= this.#o.maxQueuePerAgent) {
        throw new FlightdeckError(
          "QUEUE_FULL",
          `Queue of agent "${input.agentId}" is full (${queue.length})`,
        );
      }
      const order = this.#nextOrder();
      // The request's own timeout, else (exec commands only: a prompt's
      // turn takes what it takes) the agent's, else the server's.
      const timeoutMs = input.timeoutMs ??
        (prompt ? null : (registry.get(input.agentId)?.defaultTimeoutMs ??
          this.#o.defaultTimeoutMs ?? null));
      const stored: StoredCommand = {
        info: {
          id: crypto.randomUUID(),
          agentId: input.agentId,
          command: input.command,
          priority: input.priority,
          status: "queued",
          requestedBy: user.id,
          requestedAt: Date.now(),
          startedAt: null,
          completedAt: null,
          exitCode: null,
          outputBytes: 0,
          ...(prompt ? { kind: "prompt" as const } : {}),
          ...(timeoutMs !== null ? { timeoutMs } : {}),
        },
        order,
        dispatched: false,
        interruptReason: null,
        timeoutMs,
      };
      await storage.insertQueued(
        stored,
        options.requestId ? [user.id, options.requestId] : undefined,
      );
      insertSorted(queue, stored);
      this.#queues.set(input.agentId, queue);
      this.#status(stored, options.origin, options.requestId);
      this.#broadcastQueue(input.agentId);
      await this.#dispatch(input.agentId);
      return { command: stored.info, duplicate: false };
    });
  }

  /**
   * Interrupt a running command (signal its process group; it ends
   * `interrupted`) or cancel a queued one (it ends `cancelled`), on behalf
   * of `by`, who is recorded with `reason` in its `endedBy`. A prompt in
   * flight is interrupted by the agent with Ctrl-C (when it was typed) and
   * ends `interrupted`; a session gets Ctrl-C and keeps running (its prompt
   * in flight, if any, ends `interrupted`).
   *
   * @throws {FlightdeckError} NOT_FOUND for unknown or finished commands;
   * AGENT_OFFLINE for the session of an agent that is not connected.
   */
  interrupt(
    commandId: string,
    reason = "interrupted by operator",
    by: Actor = SERVER_ACTOR,
    options: { forwarded?: boolean } = {},
  ): Promise<CommandInfo> {
    const cluster = options.forwarded ? undefined : this.#o.cluster;
    if (cluster && !this.#holds(commandId)) {
      return this.#interruptElsewhere(cluster, commandId, reason, by);
    }
    return this.#lock.run(() => this.#interrupt(commandId, { ...by, reason }));
  }

  /** Whether `commandId` is queued or running here. */
  #holds(commandId: string): boolean {
    if (this.#active.has(commandId)) return true;
    for (const queue of this.#queues.values()) {
      if (queue.some((s) => s.info.id === commandId)) return true;
    }
    return false;
  }

  /**
   * Cluster mode: interrupt a command this node does not hold. Its agent's
   * node does it; with no node holding the agent, a queued command is
   * cancelled in storage (atomically: the queue entry is taken as a claim
   * is, so a node dispatching it at the same time does not run it too).
   */
  async #interruptElsewhere(
    cluster: CommandCluster,
    commandId: string,
    reason: string,
    by: Actor,
  ): Promise<CommandInfo> {
    const stored = await this.#o.storage.getCommand(commandId);
    if (!stored || FINAL_STATUSES.has(stored.info.status)) {
      throw new FlightdeckError(
        "NOT_FOUND",
        `Command "${commandId}" is not queued or running`,
      );
    }
    const owner = cluster.ownerElsewhere(stored.info.agentId);
    if (owner) return cluster.interrupt(owner, commandId, reason, by);
    if (stored.info.status !== "queued" || stored.dispatched) {
      throw new FlightdeckError(
        "AGENT_OFFLINE",
        `Agent "${stored.info.agentId}" is not connected`,
      );
    }
    return this.#lock.run(() =>
      this.#cancelStored(stored, { ...by, reason }).then((info) => {
        if (!info) {
          throw new FlightdeckError(
            "NOT_FOUND",
            `Command "${commandId}" is not queued or running`,
          );
        }
        return info;
      })
    );
  }

  /**
   * Cancel queued command `stored` in storage alone (cluster mode, its
   * agent held by no node). Null when its queue entry was gone (claimed or
   * cancelled elsewhere).
   */
  async #cancelStored(
    stored: StoredCommand,
    by: EndedBy & { reason: string },
  ): Promise<CommandInfo | null> {
    const now = Math.max(Date.now(), stored.info.requestedAt);
    const cancelled: StoredCommand = {
      ...stored,
      dispatched: false,
      interruptReason: by.reason,
      info: {
        ...stored.info,
        status: "cancelled",
        completedAt: now,
        endedBy: endedBy(by),
      },
    };
    if (!await this.#o.storage.claim(cancelled)) return null;
    await this.#o.storage.saveCommand(cancelled, true);
    this.#status(cancelled);
    return cancelled.info;
  }

  /**
   * Interrupt every running command and empty every queue, on behalf of
   * `by` (recorded with `reason`): queued commands end `cancelled`, running
   * ones `interrupted`. Each running session gets exactly one Ctrl-C
   * (through its typed prompt in flight, else directly) and keeps running.
   * In cluster mode every other node is asked to do the same with what it
   * holds (not awaited: the counts are this node's), and queued commands of
   * agents no node holds are cancelled in storage.
   */
  emergencyStop(
    reason = "emergency stop",
    by: Actor = SERVER_ACTOR,
    options: { forwarded?: boolean } = {},
  ): Promise<{ interrupted: number; removed: number }> {
    const end = { ...by, reason };
    if (!options.forwarded) this.#o.cluster?.stopElsewhere(reason, by);
    return this.#lock.run(async () => {
      let removed = 0;
      for (const queue of [...this.#queues.values()]) {
        for (const stored of [...queue]) {
          await this.#interrupt(stored.info.id, end);
          removed++;
        }
      }
      let interrupted = 0;
      // Prompts first, so a session with a typed prompt gets its Ctrl-C
      // from that prompt only (two in a row make some CLIs exit).
      const active = [...this.#active.values()].sort((a, b) =>
        Number(b.stored.info.kind === "prompt") -
        Number(a.stored.info.kind === "prompt")
      );
      for (const one of active) {
        if (!this.#active.has(one.stored.info.id)) continue;
        if (one.stored.info.kind === "session") {
          if (this.#interruptSession(one, reason) === "sent") interrupted++;
        } else if (one.stored.interruptReason === null) {
          await this.#interrupt(one.stored.info.id, end);
          interrupted++;
        }
      }
      const cluster = options.forwarded ? undefined : this.#o.cluster;
      if (cluster) {
        // Queued for agents no node holds: cancelled in storage.
        const { storage } = this.#o;
        for (const [agentId, ids] of await storage.loadQueues()) {
          if (cluster.ownerElsewhere(agentId)) continue;
          for (const id of ids) {
            const stored = await storage.getCommand(id);
            if (
              stored?.info.status === "queued" &&
              await this.#cancelStored(stored, end)
            ) removed++;
          }
        }
      }
      return { interrupted, removed };
    });
  }

  /**
   * Reconcile an agent that (re)connected with what it says it is running,
   * then dispatch its next command.
   */
  agentConnected(
    agentId: string,
    running: { commandId: string; lastSeq: number }[],
  ): Promise<void> {
    return this.#lock.run(async () => {
      this.#clearLost(agentId);
      if (this.#o.cluster) {
        // Loaded by adopt(): its running command is the agent's again.
        for (const active of this.#active.values()) {
          const { info } = active.stored;
          if (info.agentId === agentId && info.kind !== "prompt") {
            this.#o.registry.setCurrentCommand(agentId, info.id);
          }
        }
      }
      const reported = new Set(running.map((r) => r.commandId));
      for (const { commandId } of running) {
        if (this.#active.has(commandId)) continue;
        // Finished here (interrupted while the agent was away, or lost):
        // stop it there too, and let the agent free what it holds.
        this.#o.sendToAgent(
          agentId,
          toAgent("command:interrupt", {
            commandId,
            reason: "finished on the server",
            graceMs: this.#o.interruptGraceMs,
          }),
        );
      }
      for (const active of [...this.#active.values()]) {
        const { info } = active.stored;
        if (info.agentId !== agentId) continue;
        if (reported.has(info.id)) {
          // Started while the server was away: it is running now.
          await this.#markStarted(active);
          // Tell the agent what is stored so it resends only the rest
          // (output of its previous socket still queued is stored first;
          // after a failed commit the bookkeeping is back at what is stored).
          await this.outputLog.settled(info.id);
          this.#o.sendToAgent(
            agentId,
            toAgent("terminal:ack", {
              commandId: info.id,
              seq: active.out.lastSeq,
            }),
          );
          if (active.stored.interruptReason !== null) {
            this.#sendInterrupt(info.id, active.stored.interruptReason);
          }
        } else if (!active.started) {
          // Never started: queue it again in its original place (its
          // priority and arrival order put it ahead of later requests).
          this.#active.delete(info.id);
          this.outputLog.finish(info.id);
          if (
            info.kind !== "prompt" &&
            this.#o.registry.get(agentId)?.currentCommandId === info.id
          ) {
            this.#o.registry.setCurrentCommand(agentId, null);
          }
          const stored = { ...active.stored, dispatched: false };
          await this.#o.storage.insertQueued(stored);
          const queue = this.#queues.get(agentId) ?? [];
          insertSorted(queue, stored);
          this.#queues.set(agentId, queue);
          this.#broadcastQueue(agentId);
        } else {
          this.#o.log?.("warn", `Agent "${agentId}" lost command "${info.id}"`);
          await this.#finish(active, "lost", null, Date.now(), {
            ...SERVER_ACTOR,
            reason: "the agent reconnected without it (it had stopped)",
          });
        }
      }
      await this.#dispatch(agentId);
    });
  }

  /**
   * `session:start`: a session agent's long-lived program gets its command
   * record, of kind `session`: running from now, requested by the agent,
   * stored like any command and set as the agent's running command, so its
   * output, acks, resume, replay and history work as for any command. It is
   * never dispatched, timed out or queued again. While one runs, the same
   * record is returned.
   *
   * `size` is the terminal size the session starts with (kept for its
   * recording).
   *
   * @throws {FlightdeckError} AGENT_OFFLINE; FORBIDDEN for an agent without
   * the `session` capability; NOT_FOUND when an exec command runs on it.
   */
  startSession(
    agentId: string,
    requestedBy: string,
    program: string,
    size?: TerminalSize,
  ): Promise<CommandInfo> {
    return this.#lock.run(async () => {
      if (!this.#o.registry.isOnline(agentId)) {
        throw new FlightdeckError(
          "AGENT_OFFLINE",
          `Agent "${agentId}" is not connected`,
        );
      }
      if (!this.#o.registry.get(agentId)?.capabilities.includes("session")) {
        throw new FlightdeckError(
          "FORBIDDEN",
          `Agent "${agentId}" did not connect in session mode ` +
            `(capability "session")`,
        );
      }
      for (const active of this.#active.values()) {
        const { info } = active.stored;
        if (info.agentId !== agentId || info.kind === "prompt") continue;
        if (info.kind === "session") return info;
        throw new FlightdeckError(
          "NOT_FOUND",
          `Agent "${agentId}" is running command "${info.id}", not a session`,
        );
      }
      const now = Date.now();
      const stored: StoredCommand = {
        info: {
          id: crypto.randomUUID(),
          agentId,
          command: program,
          priority: "normal",
          status: "running",
          requestedBy,
          requestedAt: now,
          startedAt: now,
          completedAt: null,
          exitCode: null,
          outputBytes: 0,
          kind: "session",
        },
        order: this.#nextOrder(),
        dispatched: true,
        interruptReason: null,
        timeoutMs: null,
        ...(size ? { size: { cols: size.cols, rows: size.rows } } : {}),
      };
      await this.#o.storage.insertRunning(stored);
      this.#active.set(stored.info.id, {
        stored,
        out: this.outputLog.start(stored.info.id),
        started: true,
        timedOut: false,
      });
      this.#o.registry.setCurrentCommand(agentId, stored.info.id);
      // A program that starts works on its first screen; a `waiting` left
      // from an earlier session must not let a prompt go before the agent
      // runs this one. Prompts queued meanwhile go when it reports waiting.
      this.#o.registry.setActivity(agentId, { activity: "working" });
      this.#status(stored);
      return stored.info;
    });
  }

  /**
   * Give each connected agent with a queue its next command when it is
   * free (after the storage came back: dispatches that failed meanwhile).
   */
  dispatchAll(): Promise<void> {
    return this.#lock.run(async () => {
      for (const agentId of [...this.#queues.keys()]) {
        await this.#dispatch(agentId);
      }
    });
  }

  /**
   * The agent reported new activity: a session agent that is `waiting` may
   * take its next prompt.
   */
  activityChanged(agentId: string): Promise<void> {
    return this.#lock.run(() => this.#dispatch(agentId));
  }

  /**
   * The agent started a command it was sent. For a prompt, `fromSeq` is
   * where its turn starts in the session's output: recorded once, in
   * `session`, with the agent's running session (a repeat after a reconnect
   * changes nothing). `size` is a PTY command's terminal size at start
   * (kept for its recording).
   */
  started(
    agentId: string,
    commandId: string,
    fromSeq?: number,
    size?: TerminalSize,
  ): Promise<void> {
    return this.#lock.run(async () => {
      const active = this.#owned(agentId, commandId);
      const info = active.stored.info;
      const session = this.#sessionOf(agentId);
      if (
        info.kind === "prompt" && fromSeq !== undefined &&
        info.session === undefined && session
      ) {
        active.stored = {
          ...active.stored,
          info: {
            ...info,
            session: {
              commandId: session.stored.info.id,
              fromSeq,
              toSeq: null,
            },
          },
        };
        if (active.started) {
          await this.#o.storage.saveCommand(active.stored);
          this.#status(active.stored);
        }
      }
      await this.#markStarted(active, size);
    });
  }

  /**
   * The terminal of running command `commandId` was resized: record it
   * after the output stored so far, for its recording. Nothing for a
   * command that is not running here.
   */
  async resized(commandId: string, size: TerminalSize): Promise<void> {
    const active = this.#active.get(commandId);
    if (!active) return;
    await this.#o.storage.recordResize(commandId, active.out.lastSeq, {
      cols: size.cols,
      rows: size.rows,
      at: Date.now(),
    });
  }

  async #markStarted(active: Active, size?: TerminalSize): Promise<void> {
    if (!active.started) {
      active.started = true;
      const info = active.stored.info;
      active.stored = {
        ...active.stored,
        ...(size ? { size: { cols: size.cols, rows: size.rows } } : {}),
        info: {
          ...info,
          status: "running",
          startedAt: Math.max(Date.now(), info.requestedAt),
        },
      };
      await this.#o.storage.saveCommand(active.stored);
      this.#status(active.stored);
    }
    this.#armTimeout(active);
  }

  /** Start (or, after a restart, resume) the timer of a running command. */
  #armTimeout(active: Active): void {
    const { timeoutMs, info } = active.stored;
    if (
      this.#closed || timeoutMs === null || active.timer !== undefined ||
      info.startedAt === null
    ) return;
    const delay = Math.max(0, info.startedAt + timeoutMs - Date.now());
    active.timer = setTimeout(() => {
      this.#lock.run(async () => {
        // Ended, or someone else's interrupt came first, meanwhile: that
        // end stands, and no timeout is recorded.
        if (
          this.#active.get(info.id) !== active ||
          active.stored.interruptedBy !== undefined
        ) return;
        this.#o.onTimeout?.(active.stored.info);
        active.timedOut = true;
        // "timeout" on the wire: the agent reports `timeout` for it.
        await this.#interrupt(info.id, { ...SERVER_ACTOR, reason: "timeout" });
      }).catch(() => {});
    }, delay);
  }

  /**
   * Fan out one output chunk and queue it to be stored (see
   * {@link OutputLog.append}): resolves once it is broadcast, with the seq
   * the agent may free up to once `stored` resolves (the chunk and those
   * before it are durable). Duplicates (seq already received) are dropped.
   * `stored` rejects when the commit failed: the chunks of that command not
   * stored yet are dropped, and the agent must resend them.
   */
  output(agentId: string, chunk: Output): Promise<AcceptedOutput> {
    let lock = this.#outputLocks.get(agentId);
    if (!lock) this.#outputLocks.set(agentId, lock = new Mutex());
    return lock.run(() => this.#output(agentId, chunk));
  }

  async #output(agentId: string, chunk: Output): Promise<AcceptedOutput> {
    if (
      !this.#active.has(chunk.commandId) &&
      await this.#finishedHere(agentId, chunk.commandId)
    ) {
      // Already settled: acknowledge and drop.
      return { seq: chunk.seq, stored: Promise.resolve() };
    }
    const active = this.#owned(agentId, chunk.commandId);
    const { out } = active;
    if (chunk.seq <= out.lastSeq) {
      return {
        seq: out.lastSeq,
        stored: this.outputLog.stored(chunk.commandId),
      };
    }
    const info = active.stored.info;
    if (!this.outputLog.accepts(info.id, chunk.seq)) {
      // A commit of this command failed: only the agent's resend, from
      // what is stored, goes on; this chunk is neither shown nor acked.
      const refused = Promise.reject(
        new Error(`Output of "${info.id}" waits for the agent's resend`),
      );
      refused.catch(() => {});
      return { seq: out.lastSeq, stored: refused };
    }
    if (chunk.seq > out.lastSeq + 1) {
      this.#o.dashboards.broadcast(toDashboard("terminal:gap", {
        agentId,
        commandId: info.id,
        fromSeq: out.lastSeq + 1,
        toSeq: chunk.seq - 1,
      }));
    }
    // Queued to be stored (with the cap: replays announce dropped seqs with
    // terminal:gap) and broadcast at once: reads see queued chunks.
    const stored = this.outputLog.append(info.id, chunk.seq, {
      stream: chunk.stream,
      data: chunk.data,
      at: Date.now(),
    }, byteLength(chunk.data));
    info.outputBytes = out.outputBytes;
    // Other nodes get it once durable: a dashboard that moves to another
    // node then finds in storage every chunk that node has forwarded.
    this.#o.dashboards.broadcast(
      toDashboard("terminal:output", {
        agentId,
        commandId: info.id,
        seq: chunk.seq,
        stream: chunk.stream,
        data: chunk.data,
      }),
      undefined,
      stored,
    );
    return { seq: chunk.seq, stored };
  }

  /**
   * `terminal:snapshot`: keep the agent's screen of its running command
   * `commandId` (only the newest, in memory, dropped when the command ends)
   * for dashboards that open it later. It must cover only output already
   * stored and broadcast, so serving it with the output after its seq
   * leaves no gap and repeats nothing. An older snapshot than the one kept
   * is ignored.
   *
   * @throws {FlightdeckError} NOT_FOUND when `commandId` is not this
   * agent's running command; INVALID_MESSAGE when `seq` is past the output
   * stored so far.
   */
  screenSnapshot(agentId: string, snapshot: Snapshot): void {
    const active = this.#owned(agentId, snapshot.commandId);
    if (snapshot.seq > active.out.lastSeq) {
      throw new FlightdeckError(
        "INVALID_MESSAGE",
        `Snapshot of "${snapshot.commandId}" covers seq ${snapshot.seq}, ` +
          `only ${active.out.lastSeq} stored`,
      );
    }
    if (active.screen && active.screen.seq >= snapshot.seq) return;
    const { seq, cols, rows, data } = snapshot;
    active.screen = { seq, cols, rows, data };
  }

  /** The latest screen snapshot of running command `commandId`, if any. */
  latestScreen(commandId: string): ScreenSnapshot | undefined {
    return this.#active.get(commandId)?.screen;
  }

  /**
   * One page of stored output before `beforeSeq`, newest first in what is
   * read, at most about `maxBytes` (whole chunks, at least one): the chunks
   * `fromSeq..toSeq` joined, and whether older output is stored. Null when
   * nothing is stored before `beforeSeq`.
   */
  earlierOutput(
    commandId: string,
    beforeSeq: number,
    maxBytes: number,
  ): Promise<EarlierPage | null> {
    return this.outputLog.earlierPage(commandId, beforeSeq, maxBytes);
  }

  /**
   * Output chunks of `commandId` after seq `afterSeq` through `upTo`, each
   * with its stream (stdout or stderr), stored or still being stored.
   */
  outputChunks(
    commandId: string,
    afterSeq: number,
    upTo: number,
  ): AsyncGenerator<{ seq: number; stream: Stream; data: string }> {
    return this.outputLog.read(commandId, afterSeq, upTo);
  }

  /** The agent finished a command. Returns false when it was already final. */
  async completed(agentId: string, payload: Completed): Promise<boolean> {
    // Its output is stored first, outside the lock: while the storage is
    // away, that waits, and other actions go on meanwhile.
    await this.outputLog.settled(payload.commandId);
    return await this.#lock.run(async () => {
      const active = this.#active.get(payload.commandId);
      if (!active) {
        if (await this.#finishedHere(agentId, payload.commandId)) return false;
        throw new FlightdeckError(
          "NOT_FOUND",
          `Unknown command "${payload.commandId}"`,
        );
      }
      this.#owned(agentId, payload.commandId);
      // Its output first: when a commit of it failed, the record must not
      // be settled (nor the seqs not stored taken for dropped) before the
      // agent resent them, which it does with this completion once it has
      // reconnected. Rejects until then.
      await this.outputLog.stored(payload.commandId);
      let status: CommandInfo["status"] = payload.status;
      // The agent derives "timeout" from the reason text; only the server
      // knows whether its own timer fired.
      if (status === "interrupted" || status === "timeout") {
        status = active.timedOut ? "timeout" : "interrupted";
      }
      if (status === "completed" || status === "failed") {
        status = payload.exitCode === 0 ? "completed" : "failed";
      } else if (!active.started) {
        // Stopped before it started (the agent never ran it).
        status = "cancelled";
      }
      const exitCode = status === "completed"
        ? 0
        : status === "failed"
        ? (payload.exitCode ?? 1)
        : null;
      // A result without a start: it ran, so say so first (queued → running).
      if (!active.started && exitCode !== null) await this.#markStarted(active);
      // Who ended it: whoever asked the server, else the agent on its own
      // (for example while stopping), else (timeout) the server's timer.
      const by: EndedBy = status === "timeout"
        ? timeoutEnd(active.stored)
        : active.stored.interruptedBy ?? {
          actor: agentId,
          role: "agent",
          reason: payload.reason ?? null,
        };
      const turn = active.stored.info.session;
      if (turn && payload.toSeq !== undefined) {
        // Where the prompt's turn ended in the session's output.
        const toSeq = Math.max(payload.toSeq, turn.fromSeq - 1);
        active.stored = {
          ...active.stored,
          info: { ...active.stored.info, session: { ...turn, toSeq } },
        };
      }
      if (payload.lastSeq > active.out.lastSeq) {
        // The agent dropped the end of the output (its buffer overflowed while
        // the server was away): announce the loss, as replays will.
        this.#o.dashboards.broadcast(toDashboard("terminal:gap", {
          agentId,
          commandId: payload.commandId,
          fromSeq: active.out.lastSeq + 1,
          toSeq: payload.lastSeq,
        }));
        this.outputLog.skipTo(payload.commandId, payload.lastSeq);
      }
      await this.#finish(
        active,
        status,
        exitCode,
        Date.now(),
        by,
        payload.signal,
      );
      await this.#dispatch(agentId);
      return true;
    });
  }

  /**
   * Queue entries of `agentId`, in run order (cluster mode: of an agent held
   * elsewhere, as its node announced them).
   */
  queueOf(agentId: string): QueueEntry[] {
    const queue = this.#queues.get(agentId);
    if (!queue && this.#o.cluster) {
      return this.#o.cluster.remoteQueue(agentId) ?? [];
    }
    return (queue ?? []).map((stored, position) => ({
      commandId: stored.info.id,
      priority: stored.info.priority,
      position,
    }));
  }

  /** Agents with a non-empty queue (cluster mode: on any node). */
  queuedAgents(): string[] {
    const ids = [...this.#queues.entries()].filter(([, q]) => q.length).map((
      [id],
    ) => id);
    if (!this.#o.cluster) return ids;
    return [...new Set([...ids, ...this.#o.cluster.remoteQueuedAgents()])];
  }

  /** A command's current state. */
  async get(commandId: string): Promise<CommandInfo | null> {
    const active = this.#active.get(commandId);
    if (active) return active.stored.info;
    return (await this.#o.storage.getCommand(commandId))?.info ?? null;
  }

  /** Recent commands, oldest first, with live state for unfinished ones. */
  async listRecent(
    options: { agentId?: string; limit: number },
  ): Promise<CommandInfo[]> {
    const list = await this.#o.storage.listRecent(
      options.agentId,
      options.limit,
    );
    return list.map((info) => this.#active.get(info.id)?.stored.info ?? info);
  }

  /**
   * Read the recent commands of every known agent (up to `perAgent` each,
   * plus every unfinished one, oldest first) and call `use` with them while
   * no state change can happen, so a dashboard added inside `use` misses
   * nothing and sees nothing twice.
   *
   * The history is read from storage before taking the lock (it can be
   * long); under the lock, the state changes made meanwhile are applied from
   * memory, so the lock is held for no storage read in the usual case.
   */
  async snapshot(
    perAgent: number,
    use: (recent: CommandInfo[]) => void,
  ): Promise<void> {
    this.#readers++;
    try {
      await this.#snapshot(perAgent, use);
    } finally {
      if (--this.#readers === 0) this.#changes = [];
    }
  }

  async #snapshot(
    perAgent: number,
    use: (recent: CommandInfo[]) => void,
  ): Promise<void> {
    const version = this.#version;
    const byId = new Map<string, StoredCommand>();
    const read = new Set<string>();
    // A few agents at a time: the reads overlap, memory stays bounded.
    const readAgents = async (ids: string[]) => {
      for (let i = 0; i < ids.length; i += 8) {
        const batch = ids.slice(i, i + 8);
        for (const id of batch) read.add(id);
        const lists = await Promise.all(
          batch.map((id) => this.#o.storage.listRecentStored(id, perAgent)),
        );
        for (const stored of lists.flat()) byId.set(stored.info.id, stored);
      }
    };
    await readAgents(this.#o.registry.list().map((a) => a.id));
    await this.#lock.run(async () => {
      const first = this.#changes[0]?.version ?? this.#version + 1;
      if (first > version + 1) {
        // More changes than remembered happened meanwhile: read again.
        byId.clear();
        read.clear();
        await readAgents(this.#o.registry.list().map((a) => a.id));
      } else {
        for (const change of this.#changes) {
          if (change.version > version) {
            byId.set(change.stored.info.id, change.stored);
          }
        }
        // Agents that connected for the first time meanwhile.
        await readAgents(
          this.#o.registry.list().map((a) => a.id).filter((id) =>
            !read.has(id)
          ),
        );
      }
      // Unfinished commands always, however old, in their live state: a
      // dashboard must never keep showing "running" for something that ended
      // while it was away.
      for (const active of this.#active.values()) {
        byId.set(active.stored.info.id, active.stored);
      }
      for (const stored of [...this.#queues.values()].flat()) {
        byId.set(stored.info.id, stored);
      }
      for (const info of this.#o.cluster?.remoteUnfinished() ?? []) {
        byId.set(info.id, remoteStored(info));
      }
      // Newest first: per agent, every unfinished one and up to `perAgent`.
      const sorted = [...byId.values()].sort((a, b) => b.order - a.order);
      const counts = new Map<string, number>();
      const recent: CommandInfo[] = [];
      for (const stored of sorted) {
        const { agentId, status } = stored.info;
        const count = counts.get(agentId) ?? 0;
        if (count >= perAgent && FINAL_STATUSES.has(status)) continue;
        counts.set(agentId, count + 1);
        recent.push(stored.info);
      }
      use(recent.reverse());
    });
  }

  /**
   * Forget an offline agent on behalf of `by`: cancel its queued commands
   * and settle its unfinished ones as interrupted (both with `reason`),
   * remove it from the registry and storage, and broadcast
   * `agent:removed`. Its command history stays, under retention.
   *
   * @throws {FlightdeckError} NOT_FOUND for an unknown agent, AGENT_ONLINE
   * for a connected one.
   */
  forgetAgent(
    agentId: string,
    reason = "agent forgotten",
    by: Actor = SERVER_ACTOR,
  ): Promise<void> {
    const end = { ...by, reason };
    return this.#lock.run(async () => {
      const { registry, storage } = this.#o;
      const refuse = () => {
        if (!registry.get(agentId)) {
          throw new FlightdeckError("NOT_FOUND", `Unknown agent "${agentId}"`);
        }
        if (
          registry.isOnline(agentId) ||
          this.#o.cluster?.ownerElsewhere(agentId)
        ) {
          throw new FlightdeckError(
            "AGENT_ONLINE",
            `Agent "${agentId}" is connected; stop it before forgetting it`,
          );
        }
      };
      refuse();
      // From here to the end the agent cannot register again (see
      // isForgetting), so its commands are settled and it is removed as one
      // step; a reconnect meanwhile is closed with 1001 and retried.
      this.#forgetting.add(agentId);
      try {
        for (const stored of [...(this.#queues.get(agentId) ?? [])]) {
          await this.#interrupt(stored.info.id, end);
        }
        if (this.#o.cluster) {
          // Queued while another node held it: cancelled in storage.
          const ids = (await storage.loadQueues()).get(agentId) ?? [];
          for (const id of ids) {
            const stored = await storage.getCommand(id);
            if (stored?.info.status === "queued") {
              await this.#cancelStored(stored, end);
            }
          }
        }
        for (const active of [...this.#active.values()]) {
          if (active.stored.info.agentId === agentId) {
            await this.#interrupt(active.stored.info.id, end, true);
          }
        }
        this.#clearLost(agentId);
        registry.remove(agentId);
        this.#outputLocks.delete(agentId);
        await storage.deleteAgent(agentId);
        this.#o.dashboards.broadcast(
          toDashboard("agent:removed", { agentId }),
        );
      } finally {
        this.#forgetting.delete(agentId);
      }
    });
  }

  /**
   * Cluster mode: agent `agentId` connected to this node, which holds its
   * state from now on. What this node held of it before is dropped (after
   * its queued output is stored), and its queue and dispatched commands are
   * loaded from storage, as after a restart. Output of a running command
   * stored beyond what this node's dashboards got from the node that held
   * it before is sent to them first: they see no gap.
   */
  adopt(
    agentId: string,
    guard?: () => Promise<boolean>,
  ): Promise<boolean> {
    return this.#lock.run(async () => {
      const cluster = this.#o.cluster;
      if (!cluster) return false;
      // Checked under the lock: nothing else changes the agent meanwhile.
      if (guard && !await guard()) return false;
      await this.#drop(agentId, true);
      const { storage } = this.#o;
      const queue: StoredCommand[] = [];
      for (const id of (await storage.loadQueues()).get(agentId) ?? []) {
        const stored = await storage.getCommand(id);
        if (stored?.info.status === "queued") insertSorted(queue, stored);
      }
      if (queue.length) this.#queues.set(agentId, queue);
      for (const stored of await storage.loadDispatched()) {
        const { info } = stored;
        if (info.agentId !== agentId) continue;
        const out = await this.outputLog.restore(info.id);
        info.outputBytes = out.outputBytes;
        const active: Active = {
          stored,
          out,
          started: info.status === "running",
          timedOut: false,
        };
        this.#active.set(info.id, active);
        this.#armTimeout(active);
        const forwarded = cluster.takeOver(info.id);
        if (forwarded !== undefined && forwarded < out.lastSeq) {
          await this.catchUp(agentId, info.id, forwarded, out.lastSeq);
        }
      }
      this.#broadcastQueue(agentId);
      return true;
    });
  }

  /**
   * Cluster mode: the node that held agent `agentId` before let it go (it
   * answered this node's claim). Commands it queued after this node loaded
   * the agent's queue (a request it took during the takeover), or
   * dispatched to the agent's old socket and never saw start, are read from
   * storage and queued here. Only while `guard` holds (this node owns the
   * agent). Resolves with how many were added.
   */
  reloadQueue(
    agentId: string,
    guard: () => Promise<boolean>,
  ): Promise<number> {
    return this.#lock.run(async () => {
      if (!this.#o.cluster || !await guard()) return 0;
      const { storage } = this.#o;
      const queue = this.#queues.get(agentId) ?? [];
      const known = new Set([
        ...queue.map((s) => s.info.id),
        ...this.#active.keys(),
      ]);
      let added = 0;
      for (const id of (await storage.loadQueues()).get(agentId) ?? []) {
        if (known.has(id)) continue;
        const stored = await storage.getCommand(id);
        if (stored?.info.status !== "queued") continue;
        insertSorted(queue, stored);
        known.add(id);
        added++;
      }
      for (const stored of await storage.loadDispatched()) {
        const { info } = stored;
        if (info.agentId !== agentId || known.has(info.id)) continue;
        if (info.status !== "queued") continue;
        // Sent to a socket the agent had left: queued again.
        const again = { ...stored, dispatched: false };
        await storage.insertQueued(again);
        insertSorted(queue, again);
        added++;
      }
      if (!added) return 0;
      this.#queues.set(agentId, queue);
      this.#broadcastQueue(agentId);
      await this.#dispatch(agentId);
      return added;
    });
  }

  /**
   * Whether this node holds state of agent `agentId` (a queue or a
   * dispatched command).
   */
  holds(agentId: string): boolean {
    if (this.#queues.has(agentId)) return true;
    for (const active of this.#active.values()) {
      if (active.stored.info.agentId === agentId) return true;
    }
    return false;
  }

  /** Whether agent `agentId`'s lost timer is armed here. */
  losing(agentId: string): boolean {
    return this.#lostTimers.has(agentId);
  }

  /**
   * Cluster mode: another node took agent `agentId` over. Drop what this
   * node holds of it (queue, dispatched commands, timers), writing nothing:
   * the new node loads it from storage.
   */
  release(agentId: string): Promise<void> {
    return this.#lock.run(async () => {
      for (const active of this.#active.values()) {
        if (active.stored.info.agentId !== agentId) continue;
        // This node's dashboards got it live up to here.
        this.#o.cluster?.handOver(active.stored.info.id, active.out.lastSeq);
      }
      await this.#drop(agentId, false);
    });
  }

  /** Forget agent `agentId`'s queue, dispatched commands and timers here. */
  async #drop(agentId: string, settle: boolean): Promise<void> {
    this.#clearLost(agentId);
    this.#queues.delete(agentId);
    for (const active of [...this.#active.values()]) {
      const { id } = active.stored.info;
      if (active.stored.info.agentId !== agentId) continue;
      clearTimeout(active.timer);
      if (settle) await this.outputLog.settled(id);
      this.#active.delete(id);
      this.outputLog.finish(id);
    }
  }

  /**
   * Send this node's dashboards (and no other node's) the stored output of
   * `commandId` with `afterSeq < seq <= upTo`, announcing missing seqs with
   * `terminal:gap`. Returns the last seq announced.
   */
  async catchUp(
    agentId: string,
    commandId: string,
    afterSeq: number,
    upTo: number,
  ): Promise<number> {
    const { dashboards } = this.#o;
    let expected = afterSeq + 1;
    for await (const chunk of this.outputLog.read(commandId, afterSeq, upTo)) {
      if (chunk.seq > expected) {
        dashboards.broadcastFrame(JSON.stringify(toDashboard("terminal:gap", {
          agentId,
          commandId,
          fromSeq: expected,
          toSeq: chunk.seq - 1,
        })));
      }
      dashboards.broadcastFrame(
        JSON.stringify(toDashboard("terminal:output", {
          agentId,
          commandId,
          seq: chunk.seq,
          stream: chunk.stream,
          data: chunk.data,
        })),
        undefined,
        { commandId, seq: chunk.seq },
      );
      expected = chunk.seq + 1;
    }
    if (expected <= upTo) {
      dashboards.broadcastFrame(JSON.stringify(toDashboard("terminal:gap", {
        agentId,
        commandId,
        fromSeq: expected,
        toSeq: upTo,
      })));
    }
    return upTo;
  }

  /** Agents with a running command in storage (cluster mode). */
  async runningAgents(): Promise<string[]> {
    const stored = await this.#o.storage.loadDispatched();
    return [
      ...new Set(
        stored.filter((s) => s.info.status === "running").map((s) =>
          s.info.agentId
        ),
      ),
    ];
  }

  /**
   * Cluster mode: another node changed command `info`; remembered for the
   * snapshots being read (see {@link snapshot}).
   */
  noteRemote(info: CommandInfo): void {
    this.#version++;
    if (this.#readers > 0) {
      this.#changes.push({
        version: this.#version,
        stored: remoteStored(info),
      });
      if (this.#changes.length > MAX_CHANGES) this.#changes.shift();
    }
  }

  /** Whether `agentId` is being forgotten: it may not register until done. */
  isForgetting(agentId: string): boolean {
    return this.#forgetting.has(agentId);
  }

  /**
   * Output of a command with `afterSeq < seq <= upTo`, in order: what is
   * stored, then what was sent live and is not stored yet.
   */
  readOutput(
    commandId: string,
    afterSeq: number,
    upTo = Number.MAX_SAFE_INTEGER,
    batchSize?: number,
  ): AsyncGenerator<ReadChunk> {
    return this.outputLog.read(commandId, afterSeq, upTo, batchSize);
  }

  /**
   * The seq up to which `commandId` has been broadcast: every later chunk
   * reaches each current dashboard live. Running: the last stored seq;
   * queued: 0; finished or unknown: all of it.
   */
  broadcastSeq(commandId: string): number {
    const active = this.#active.get(commandId);
    if (active) return active.out.lastSeq;
    for (const queue of this.#queues.values()) {
      if (queue.some((s) => s.info.id === commandId)) return 0;
    }
    return this.#o.cluster?.forwardedSeq(commandId) ?? Number.MAX_SAFE_INTEGER;
  }

  /**
   * For every command that may still produce output, the seq up to which it
   * has been broadcast: later chunks reach every current dashboard live.
   * Running commands: their last stored seq; queued ones: 0.
   */
  broadcastSeqs(): Map<string, number> {
    const seqs = this.#o.cluster?.forwardedSeqs() ?? new Map<string, number>();
    for (const [id, active] of this.#active) seqs.set(id, active.out.lastSeq);
    for (const queue of this.#queues.values()) {
      for (const stored of queue) seqs.set(stored.info.id, 0);
    }
    return seqs;
  }

  /** Highest stored seq of a command. */
  async lastSeq(commandId: string): Promise<number> {
    const active = this.#active.get(commandId);
    if (active) return active.out.lastSeq;
    const stored = await this.#o.storage.getCommand(commandId);
    return stored?.lastSeq ?? await this.outputLog.lastSeq(commandId);
  }

  /**
   * Wait for pending state changes to finish and queued output to be
   * stored (used at shutdown).
   */
  async idle(): Promise<void> {
    await this.#lock.run(() => Promise.resolve());
    await this.outputLog.idle();
  }

  /** Stop timers; no lost timer starts after this (sockets closing at shutdown). */
  close(): void {
    this.#closed = true;
    for (const active of this.#active.values()) clearTimeout(active.timer);
    for (const timer of this.#lostTimers.values()) clearTimeout(timer);
    this.#lostTimers.clear();
  }

  /**
   * Agent `agentId` went offline: what it was running ends `lost` unless
   * it connects again within `lostAfterMs` (see {@link agentConnected}).
   */
  agentDisconnected(agentId: string): void {
    this.#armLost(agentId);
  }

  /** Start the lost timer of `agentId` when it runs something and has none. */
  #armLost(agentId: string): void {
    if (this.#closed || this.#lostTimers.has(agentId)) return;
    const runs = [...this.#active.values()].some((a) =>
      a.stored.info.agentId === agentId && a.started
    );
    if (!runs) return;
    const after = this.#o.lostAfterMs ?? DEFAULT_LOST_AFTER_MS;
    this.#lostTimers.set(
      agentId,
      setTimeout(() => {
        this.#lostTimers.delete(agentId);
        this.#lock.run(() => this.#lose(agentId, after)).catch((error) => {
          this.#o.log?.(
            "error",
            `Cannot settle lost commands of "${agentId}": ${error}`,
          );
          // Tried again after the same time (the storage may be back).
          this.#armLost(agentId);
        });
      }, after),
    );
  }

  #clearLost(agentId: string): void {
    clearTimeout(this.#lostTimers.get(agentId));
    this.#lostTimers.delete(agentId);
  }

  /**
   * The lost timer of `agentId` fired: unless it is back, end what it was
   * running `lost`. Commands dispatched and never started stay: they are
   * queued again when it connects.
   */
  async #lose(agentId: string, after: number): Promise<void> {
    if (this.#o.registry.isOnline(agentId)) return;
    // Cluster mode: another node may hold it now (its claim not seen yet).
    if (this.#o.cluster && !await this.#o.cluster.mayEndLost(agentId)) return;
    for (const active of [...this.#active.values()]) {
      const { info } = active.stored;
      if (info.agentId !== agentId || !active.started) continue;
      this.#o.log?.("warn", `Agent "${agentId}" lost command "${info.id}"`);
      await this.#finish(active, "lost", null, Date.now(), {
        ...SERVER_ACTOR,
        reason: `the agent went offline and was not back within ${
          formatMs(after)
        }`,
      });
    }
  }

  /**
   * Interrupt `commandId` (see {@link interrupt}). With `end`, a session is
   * ended like a command (signalled, or settled when its agent is offline)
   * instead of getting Ctrl-C: used when its agent is forgotten.
   */
  async #interrupt(
    commandId: string,
    by: EndedBy & { reason: string },
    end = false,
  ): Promise<CommandInfo> {
    const { reason } = by;
    const active = this.#active.get(commandId);
    if (active?.stored.info.kind === "session" && !end) {
      if (this.#interruptSession(active, reason) === "offline") {
        throw new FlightdeckError(
          "AGENT_OFFLINE",
          `Agent "${active.stored.info.agentId}" is not connected`,
        );
      }
      const prompt = this.#promptOf(active.stored.info.agentId);
      if (prompt && prompt.stored.interruptReason === null) {
        await this.#interrupt(prompt.stored.info.id, by);
      }
      return active.stored.info;
    }
    if (active) {
      // The first interrupt names who ended it; later ones only repeat it.
      const interruptedBy = active.stored.interruptedBy ?? by;
      const interrupted: StoredCommand = {
        ...active.stored,
        interruptReason: reason,
        interruptedBy,
      };
      const agentId = active.stored.info.agentId;
      if (this.#o.registry.isOnline(agentId)) {
        // Stored first: when that fails (the storage is away), nothing is
        // sent and it runs on, unchanged.
        await this.#o.storage.saveCommand(interrupted);
        active.stored = interrupted;
        this.#sendInterrupt(commandId, reason);
        return active.stored.info;
      }
      // Nobody to signal: settle it now. If the agent comes back still
      // running it, agentConnected() tells it to stop.
      active.stored = interrupted;
      // Sent but never started: it never ran.
      const status = !active.started
        ? "cancelled"
        : active.timedOut
        ? "timeout"
        : "interrupted";
      await this.#finish(
        active,
        status,
        null,
        Date.now(),
        active.timedOut ? timeoutEnd(active.stored) : interruptedBy,
      );
      return active.stored.info;
    }
    for (const [agentId, queue] of this.#queues) {
      const stored = queue.find((s) => s.info.id === commandId);
      if (!stored) continue;
      const now = Math.max(Date.now(), stored.info.requestedAt);
      const info: CommandInfo = {
        ...stored.info,
        status: "cancelled",
        completedAt: now,
        endedBy: endedBy(by),
      };
      // Stored first: when that fails (the storage is away), it stays
      // queued, unchanged.
      await this.#o.storage.saveCommand(
        { ...stored, info, interruptReason: reason },
        true,
      );
      queue.splice(queue.indexOf(stored), 1);
      stored.info = info;
      stored.interruptReason = reason;
      this.#status(stored);
      this.#broadcastQueue(agentId);
      return stored.info;
    }
    throw new FlightdeckError(
      "NOT_FOUND",
      `Command "${commandId}" is not queued or running`,
    );
  }

  /**
   * Send Ctrl-C into `session`'s terminal, unless its prompt in flight was
   * typed (interrupting that prompt makes the agent send the Ctrl-C).
   * The session keeps running. Returns `sent` (Ctrl-C sent), `prompt` (left
   * to the prompt) or `offline` (the agent is not connected).
   */
  #interruptSession(
    session: Active,
    reason: string,
  ): "sent" | "prompt" | "offline" {
    const { agentId, id } = session.stored.info;
    if (!this.#o.registry.isOnline(agentId)) return "offline";
    const prompt = this.#promptOf(agentId);
    // A typed prompt's interrupt sends the Ctrl-C (one only: two in a row
    // make some CLIs exit).
    if (prompt?.started) return "prompt";
    this.#o.log?.("info", `Ctrl-C to session "${id}" (${reason})`);
    const sent = this.#o.sendToAgent(
      agentId,
      toAgent("terminal:input", { commandId: id, data: "\x03" }),
    );
    return sent ? "sent" : "offline";
  }

  /** The running session of `agentId`, if any. */
  #sessionOf(agentId: string): Active | undefined {
    for (const active of this.#active.values()) {
      const { info } = active.stored;
      if (info.agentId === agentId && info.kind === "session") return active;
    }
  }

  /** The prompt in flight (dispatched, not finished) of `agentId`, if any. */
  #promptOf(agentId: string): Active | undefined {
    for (const active of this.#active.values()) {
      const { info } = active.stored;
      if (info.agentId === agentId && info.kind === "prompt") return active;
    }
  }

  #sendInterrupt(commandId: string, reason: string): void {
    const active = this.#active.get(commandId);
    if (!active) return;
    this.#o.sendToAgent(
      active.stored.info.agentId,
      toAgent("command:interrupt", {
        commandId,
        reason,
        graceMs: this.#o.interruptGraceMs,
      }),
    );
  }

  /**
   * End `active` with `status`; `by` (who ended it) is recorded for ends not
   * of the program's own making, `signal` when its process died of one.
   */
  async #finish(
    active: Active,
    status: CommandInfo["status"],
    exitCode: number | null,
    at: number,
    by?: EndedBy,
    signal?: string,
  ): Promise<void> {
    clearTimeout(active.timer);
    // Its record says what is stored: let the output queued so far be
    // (the agent's completion waited for it in full, see completed(); ends
    // the server decides keep what is stored).
    await this.outputLog.settled(active.stored.info.id);
    const info = active.stored.info;
    this.#active.delete(info.id);
    const ended = status === "completed" || status === "failed"
      ? undefined
      : by;
    this.outputLog.finish(info.id);
    active.stored = {
      ...active.stored,
      dispatched: false,
      lastSeq: active.out.lastSeq,
      storedBytes: active.out.storedBytes,
      info: {
        ...info,
        // Back to what is stored if a commit failed.
        outputBytes: active.out.outputBytes,
        status,
        exitCode,
        startedAt: info.startedAt,
        completedAt: Math.max(at, info.startedAt ?? 0, info.requestedAt),
        ...(ended ? { endedBy: endedBy(ended) } : {}),
        ...(signal ? { exitSignal: signal } : {}),
      },
    };
    await this.#o.storage.saveCommand(active.stored);
    if (
      info.kind === "session" && status !== "queued" &&
      status !== "running" && status !== "cancelled"
    ) {
      // Nothing runs to be waiting: the agent is no longer ready for prompts.
      this.#o.registry.endSession(info.agentId, {
        commandId: info.id,
        status,
        exitCode,
      });
    } else if (
      info.kind !== "prompt" &&
      this.#o.registry.get(info.agentId)?.currentCommandId === info.id
    ) {
      // (An exec command an agent refused in session mode never was its
      // current command: the session stays it.)
      this.#o.registry.setCurrentCommand(info.agentId, null);
    }
    this.#status(active.stored);
  }

  /**
   * Send the next queued command to `agentId` when it is online and idle.
   * A session agent (capability `session`) gets its next prompt only when
   * its session runs, no prompt is in flight and it reports `waiting`; it
   * never gets an exec command, and an exec agent never gets a prompt:
   * those stay queued (in their place) until the agent connects in the mode
   * they were queued for, or are cancelled.
   */
  async #dispatch(agentId: string): Promise<void> {
    const { registry, storage } = this.#o;
    if (!registry.isOnline(agentId)) return;
    const session = isSessionAgent(registry, agentId);
    if (session) {
      // One prompt at a time, into a running session, at its input prompt.
      if (
        !this.#sessionOf(agentId) || this.#promptOf(agentId) ||
        registry.get(agentId)?.activity !== "waiting"
      ) return;
    } else {
      for (const active of this.#active.values()) {
        if (active.stored.info.agentId === agentId) return;
      }
    }
    // Only what the agent's mode runs: prompts into a session, anything else
    // as a process. The rest (queued while the agent ran in the other mode)
    // keeps its place until the agent is back in that mode.
    const queue = this.#queues.get(agentId) ?? [];
    const index = queue.findIndex((s) =>
      (s.info.kind === "prompt") === session
    );
    if (index < 0) return;
    const [next] = queue.splice(index, 1);
    if (queue.length === 0) this.#queues.delete(agentId);
    const stored: StoredCommand = { ...next, dispatched: true };
    let claimed: boolean;
    try {
      claimed = await storage.claim(stored);
    } catch (error) {
      // Not claimed (the storage failed): it keeps its place, and goes when
      // the storage is back ({@link dispatchAll}).
      queue.splice(index, 0, next);
      this.#queues.set(agentId, queue);
      throw error;
    }
    if (!claimed) {
      // Its queue entry is gone from storage: another server sharing it
      // (Redis) started or removed it. Not run here; try the next one.
      this.#o.log?.(
        "warn",
        `Command "${stored.info.id}" was claimed elsewhere; not run here`,
      );
      this.#broadcastQueue(agentId);
      await this.#dispatch(agentId);
      return;
    }
    this.#active.set(stored.info.id, {
      stored,
      out: this.outputLog.start(stored.info.id),
      started: false,
      timedOut: false,
    });
    // A prompt runs inside the session, which stays the running command.
    if (!session) registry.setCurrentCommand(agentId, stored.info.id);
    this.#broadcastQueue(agentId);
    this.#o.sendToAgent(
      agentId,
      toAgent("command:execute", { command: stored.info }),
    );
  }

  /** Whether `commandId` belongs to `agentId` and is already final. */
  async #finishedHere(agentId: string, commandId: string): Promise<boolean> {
    const stored = await this.#o.storage.getCommand(commandId);
    return stored !== null && stored.info.agentId === agentId &&
      FINAL_STATUSES.has(stored.info.status);
  }

  #owned(agentId: string, commandId: string): Active {
    const active = this.#active.get(commandId);
    if (!active || active.stored.info.agentId !== agentId) {
      throw new FlightdeckError(
        "NOT_FOUND",
        `Command "${commandId}" is not running on agent "${agentId}"`,
      );
    }
    return active;
  }

  /** Broadcast a command's new state and remember it for snapshots. */
  #status(stored: StoredCommand, origin?: Peer, replyTo?: string): void {
    const { dashboards } = this.#o;
    const info = stored.info;
    this.#version++;
    if (this.#readers > 0) {
      this.#changes.push({ version: this.#version, stored });
      if (this.#changes.length > MAX_CHANGES) this.#changes.shift();
    }
    dashboards.broadcast(
      toDashboard("command:status", { command: info }),
      origin,
    );
    if (origin) {
      const payload = replyTo === undefined
        ? { command: info }
        : { command: info, replyTo };
      dashboards.sendTo(origin, toDashboard("command:status", payload));
    }
  }

  #broadcastQueue(agentId: string): void {
    this.#o.dashboards.broadcast(toDashboard("command:queue", {
      agentId,
      queue: this.queueOf(agentId),
    }));
  }

  #nextOrder(): number {
    this.#lastOrder = Math.max(Date.now() * 1000, this.#lastOrder + 1);
    return this.#lastOrder;
  }
}

/** Who ended a command that timed out: the server, after its timeout. */
function timeoutEnd(stored: StoredCommand): EndedBy {
  return {
    ...SERVER_ACTOR,
    reason: `timed out after ${formatMs(stored.timeoutMs ?? 0)}`,
  };
}

/** `by` as stored: a reason of at most `maxTextChars` characters. */
function endedBy(by: EndedBy): EndedBy {
  const reason = by.reason === null ? null : by.reason.slice(0, 4096);
  return { actor: by.actor.slice(0, 128), role: by.role, reason };
}

/** `90 s`, `2 min`, `1500 ms`: a configured time for a reason text. */
function formatMs(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** Whether `agentId` connected in session mode (capability `session`). */
function isSessionAgent(registry: Registry, agentId: string): boolean {
  return registry.get(agentId)?.capabilities.includes("session") ?? false;
}

/**
 * A command of another node as this node keeps it for snapshots: its order
 * (arrival) taken from its request time, as {@link CommandService} numbers
 * it.
 */
function remoteStored(info: CommandInfo): StoredCommand {
  return {
    info,
    order: info.requestedAt * 1000,
    dispatched: info.status === "running",
    interruptReason: null,
    timeoutMs: info.timeoutMs ?? null,
  };
}

function insertSorted(queue: StoredCommand[], stored: StoredCommand): void {
  const rank = (s: StoredCommand) => PRIORITY_RANK[s.info.priority];
  let index = queue.findIndex((s) =>
    rank(s) > rank(stored) ||
    (rank(s) === rank(stored) && s.order > stored.order)
  );
  if (index < 0) index = queue.length;
  queue.splice(index, 0, stored);
}
