/**
 * Client state shared between islands, as signals: agents, commands, queues,
 * the selection, recent errors and the per-command output store. Filled by
 * the handlers {@link bindStores} registers on the dashboard client.
 * @module
 */
import { type Signal, signal } from "@preact/signals";
import {
  type AgentInfo,
  type CommandInfo,
  FINAL_STATUSES,
  type Priority,
  type Role,
} from "../protocol.ts";
import type { Holder } from "./control.ts";
import { OutputStore } from "./output_store.ts";
import type { ConnectionState, MessageClient } from "./socket.ts";

/** One entry of an agent's queue (`command:queue`). */
export interface QueueEntry {
  commandId: string;
  priority: Priority;
  position: number;
}

/** An `error` the server sent, kept for the status line and request answers. */
export interface ErrorEntry {
  code: string;
  message: string;
  replyTo?: string;
  at: number;
}

/** All client state of one page. */
export interface Stores {
  agents: Signal<ReadonlyMap<string, AgentInfo>>;
  commands: Signal<ReadonlyMap<string, CommandInfo>>;
  queues: Signal<ReadonlyMap<string, readonly QueueEntry[]>>;
  selectedAgentId: Signal<string | null>;
  /** A single command shown in the terminal, or null for the agent's stream. */
  selectedCommandId: Signal<string | null>;
  /** Last few server errors of this connection, newest last. */
  errors: Signal<readonly ErrorEntry[]>;
  /** The signed-in user, from `connection:ack`. */
  user: Signal<{ id: string; role: Role } | null>;
  /** This tab's connection id, from the latest `connection:ack`. */
  connectionId: Signal<string | null>;
  /**
   * Who controls each agent's terminal (`session:controller`); agents
   * missing from the map have no holder.
   */
  controllers: Signal<ReadonlyMap<string, NonNullable<Holder>>>;
  /** Ordered output per command: `lastSeq`, replay cache, output listeners. */
  output: OutputStore;
}

/** How many errors {@link Stores.errors} keeps. */
export const MAX_ERRORS = 5;
/** How many commands the `commands` map keeps before pruning finished ones. */
export const MAX_COMMANDS = 1000;

/** Options of {@link createStores}. */
export interface StoresOptions {
  /** Output cached per command (default 2 Mi UTF-16 units ≈ 4 MiB); `Infinity` keeps it all. */
  maxCachedBytesPerCommand?: number;
  /** Commands whose output is cached (default 200); `Infinity` keeps all. */
  maxCachedCommands?: number;
  /**
   * Output cached across all commands (default 16 Mi units ≈ 32 MiB, at least
   * `maxCachedBytesPerCommand`); `Infinity` keeps all.
   */
  maxCachedBytes?: number;
}

/**
 * Fresh, empty stores (one set per page; tests make their own and may lift
 * the output cache bounds to read whole outputs with `output.fullText(id)`).
 */
export function createStores(options: StoresOptions = {}): Stores {
  return {
    agents: signal(new Map()),
    commands: signal(new Map()),
    queues: signal(new Map()),
    selectedAgentId: signal(null),
    selectedCommandId: signal(null),
    errors: signal([]),
    user: signal(null),
    connectionId: signal(null),
    controllers: signal(new Map()),
    output: new OutputStore({
      maxBytesPerCommand: options.maxCachedBytesPerCommand,
      maxCommands: options.maxCachedCommands,
      maxTotalBytes: options.maxCachedBytes,
    }),
  };
}

/** The page's stores, shared by every island. */
export const stores: Stores = createStores();

/**
 * Whether the stores' agent states are stale in connection state `state`:
 * after the connection was lost (reconnecting, or stopped for good) nothing
 * updates them, so the page must not show them as live. While connecting
 * for the first time they are the server-rendered snapshot of this load.
 */
export function isStale(state: ConnectionState): boolean {
  return state === "reconnecting" || state === "offline";
}

/** Remove `key` from the map in `map`; a missing key changes nothing. */
function deleteKey<V>(map: Signal<ReadonlyMap<string, V>>, key: string): void {
  if (!map.value.has(key)) return;
  const next = new Map(map.value);
  next.delete(key);
  map.value = next;
}

/** Put server-rendered agents in the store unless live data already came. */
export function seedAgents(s: Stores, list: readonly AgentInfo[]): void {
  if (s.agents.value.size > 0) return;
  s.agents.value = new Map(list.map((a) => [a.id, a]));
}

/** Add server-rendered commands that the store does not know yet. */
export function seedCommands(s: Stores, list: readonly CommandInfo[]): void {
  const next = new Map(s.commands.value);
  let changed = false;
  for (const c of list) {
    if (!next.has(c.id)) {
      next.set(c.id, c);
      changed = true;
    }
  }
  if (changed) s.commands.value = next;
}

/** Add server-rendered queues for agents the store has no queue for. */
export function seedQueues(
  s: Stores,
  queues: Readonly<Record<string, readonly QueueEntry[]>>,
): void {
  const next = new Map(s.queues.value);
  for (const [agentId, queue] of Object.entries(queues)) {
    if (!next.has(agentId)) next.set(agentId, queue);
  }
  s.queues.value = next;
}

/** Store one command update; returns the previous version. */
export function upsertCommand(
  s: Stores,
  command: CommandInfo,
): CommandInfo | undefined {
  const previous = s.commands.value.get(command.id);
  const next = new Map(s.commands.value);
  next.set(command.id, command);
  if (next.size > MAX_COMMANDS) {
    for (const [id, c] of next) {
      if (next.size <= MAX_COMMANDS) break;
      if (FINAL_STATUSES.has(c.status)) next.delete(id);
    }
  }
  s.commands.value = next;
  return previous;
}

/**
 * The `resume` map for `dashboard:connect`: last seq of every command whose
 * output this client holds and that may still produce output (unknown or
 * not finished), or whose output is incomplete (replay requested, chunks
 * held, nothing received yet, or fewer bytes than the final `outputBytes`
 * without a `terminal:gap` or a snapshot explaining it).
 */
export function resumeMap(s: Stores): Record<string, number> {
  return s.output.resumeMap((id) => {
    const c = s.commands.value.get(id);
    return c === undefined || !FINAL_STATUSES.has(c.status) ||
      s.output.isWaiting(id) || s.output.lastSeq(id) === 0 ||
      (!s.output.hasGap(id) && s.output.screen(id) === undefined &&
        s.output.receivedBytes(id) < c.outputBytes);
  });
}

/**
 * Register the store handlers on `client`; returns a function removing them.
 * Also routes the output store's replay requests through the client.
 */
export function bindStores(s: Stores, client: MessageClient): () => void {
  s.output.requestResume = (commandId, afterSeq, snapshot) => {
    // A prompt's output is its slice of the session's stream: no screen of
    // the session can stand for it.
    const prompt = s.commands.value.get(commandId)?.kind === "prompt";
    client.send("terminal:resume", {
      commandId,
      afterSeq,
      ...(snapshot && !prompt ? { snapshot: true } : {}),
    });
  };
  const offs = [
    client.on("connection:ack", (m) => {
      s.user.value = m.payload.user;
      s.connectionId.value = m.payload.connectionId;
      // Holders of the previous connection are stale (and that connection's
      // own control ended with it); the snapshot re-announces current ones.
      if (s.controllers.value.size > 0) s.controllers.value = new Map();
      s.output.connectionReset();
      // The server sends `command:queue` for every non-empty queue after
      // `agent:list`: a queue emptied meanwhile must not stay stale.
      if (s.queues.value.size > 0) s.queues.value = new Map();
      // Errors of the previous connection are stale now.
      if (s.errors.value.length > 0) s.errors.value = [];
    }),
    client.on("agent:list", (m) => {
      s.agents.value = new Map(m.payload.agents.map((a) => [a.id, a]));
    }),
    client.on("agent:status", (m) => {
      const next = new Map(s.agents.value);
      next.set(m.payload.agent.id, m.payload.agent);
      s.agents.value = next;
    }),
    client.on("session:controller", (m) => {
      const { agentId, holder } = m.payload;
      if (!holder) return deleteKey(s.controllers, agentId);
      const next = new Map(s.controllers.value);
      next.set(agentId, holder);
      s.controllers.value = next;
    }),
    client.on("agent:removed", (m) => {
      deleteKey(s.controllers, m.payload.agentId);
      deleteKey(s.agents, m.payload.agentId);
    }),
    client.on("command:status", (m) => {
      const command = m.payload.command;
      const previous = upsertCommand(s, command);
      if (command.status === "running" && previous?.status !== "running") {
        s.output.started(command.agentId, command.id);
      }
      // A prompt's output is its slice of the session's, replayed on demand:
      // once it ends, fetch what it printed after this tab asked.
      const last = s.output.lastSeq(command.id);
      if (
        command.kind === "prompt" && FINAL_STATUSES.has(command.status) &&
        previous !== undefined && !FINAL_STATUSES.has(previous.status) &&
        last !== undefined
      ) {
        s.output.requestResume(command.id, last, false);
      }
    }),
    client.on("command:queue", (m) => {
      const next = new Map(s.queues.value);
      next.set(m.payload.agentId, m.payload.queue);
      s.queues.value = next;
    }),
    client.on("terminal:output", (m) => {
      s.output.receive(m.payload);
    }),
    client.on("terminal:gap", (m) => {
      s.output.gap(m.payload);
    }),
    client.on("terminal:snapshot", (m) => {
      s.output.snapshot(m.payload);
    }),
    client.on("terminal:earlier", (m) => {
      s.output.earlier(m.payload);
    }),
    client.on("error", (m) => {
      const { code, message, replyTo } = m.payload;
      const entry: ErrorEntry = { code, message, at: Date.now() };
      if (replyTo !== undefined) entry.replyTo = replyTo;
      s.errors.value = [...s.errors.value, entry].slice(-MAX_ERRORS);
    }),
  ];
  return () => offs.forEach((off) => off());
}

/** Agent `agentId`'s display name in `from` (default: this page's), else the id. */
export function agentName(agentId: string, from: Stores = stores): string {
  return from.agents.value.get(agentId)?.name ?? agentId;
}
