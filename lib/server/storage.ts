/**
 * Deno KV layout for commands and queues; the output log's keys are
 * described (and read and written) in output_log.ts.
 *
 * Keys:
 * - `["cmd", id]` → {@link StoredCommand}
 * - `["cmd_by_agent", agentId, order]` → command id (history per agent)
 * - `["cmd_by_order", order, id]` → command id (history of all agents, for
 *   the dashboard page)
 * - `["cmd_active", id]` → agent id, while a command is dispatched and not
 *   finished (read at start-up instead of every command)
 * - `["queue", agentId, rank, order]` → command id (durable queue order)
 * - `["out", ...]`, `["out_meta", ...]`: the output log, see output_log.ts;
 *   with output in files, `["out_file", ...]` and `["out_pos", ...]`, see
 *   file_output.ts
 * - `["out_resize", commandId, afterSeq]` → {@link StoredResize}: the
 *   terminal was resized after output `afterSeq` (the last of several
 *   between two chunks wins)
 * - `["req", userId, requestId]` → command id, expiring after 10 minutes
 * - `["agent", id]` → AgentInfo
 * - `["fin", completedAt, id]` → agent id and order of every finished command
 *   (oldest first, for retention of command records)
 * - `["done", completedAt, id]` → stored output bytes of a finished command
 *   whose output is still kept (oldest first, for retention of output)
 * - `["stat", "kept_bytes"]` → `Deno.KvU64`, the sum of the `["done"]` values
 * - `["stat", "schema"]` → layout version; older data is indexed once at start
 *
 * @module
 */
import {
  type AgentInfo,
  type CommandInfo,
  type EndedBy,
  FINAL_STATUSES,
  type Priority,
} from "../protocol.ts";
import { type OutputBackend, OutputStore } from "./output_log.ts";
import { finishedInKv } from "./search_index.ts";
import type { KvLike } from "./redis_kv.ts";

export type { OutputMeta, StoredChunk } from "./output_log.ts";

/** A command as stored: its public info plus bookkeeping. */
export interface StoredCommand {
  info: CommandInfo;
  /** Monotonic arrival order, used for first-come within a priority. */
  order: number;
  /** Sent to the agent and not yet finished. */
  dispatched: boolean;
  /** An interrupt was requested; repeated to the agent on reconnect. */
  interruptReason: string | null;
  /**
   * Who asked for the first interrupt (it becomes `info.endedBy` when the
   * command ends interrupted); absent when none was asked, and on records
   * written before it existed.
   */
  interruptedBy?: EndedBy;
  timeoutMs: number | null;
  /** Highest output seq, recorded when the command finishes. */
  lastSeq?: number;
  /**
   * Output bytes still stored, recorded when the command finishes (less than
   * `info.outputBytes` when the per-command cap dropped the oldest output).
   * Absent: all of `info.outputBytes`.
   */
  storedBytes?: number;
  /** Output before this seq was removed by retention. */
  retainedFromSeq?: number;
  /**
   * The terminal size it started with, when known: a session's
   * (`session:start`) or a PTY command's (`command:started`).
   */
  size?: TerminalSize;
}

/** A terminal size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/** A terminal resize sent to a running command, as stored. */
export interface StoredResize extends TerminalSize {
  /** When the server forwarded it (ms since the epoch). */
  at: number;
}

/** Ranks for priorities: lower runs first. */
export const PRIORITY_RANK: Record<Priority, number> = {
  high: 0,
  normal: 1,
  low: 2,
};

const REQUEST_TTL_MS = 10 * 60_000;
const KEPT_BYTES: Deno.KvKey = ["stat", "kept_bytes"];
const SCHEMA: Deno.KvKey = ["stat", "schema"];
const SCHEMA_VERSION = 2;

/** `n` (possibly negative) as an operand of `sum`, which wraps modulo 2^64. */
function u64(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

/**
 * Commands, queues, agents and output: what both the Deno KV layout
 * ({@link Storage}) and the Redis one (redis_storage.ts) store. The methods
 * are documented on {@link Storage}.
 */
export interface CommandStore {
  /**
   * Where the output's line and search indexes are kept: the Deno KV of
   * this process, or with Redis the shared {@link KvLike} over it.
   */
  readonly kv: KvLike;
  readonly output: OutputBackend;
  migrate(): Promise<void>;
  insertQueued(
    command: StoredCommand,
    requestKey?: [string, string],
  ): Promise<void>;
  insertRunning(command: StoredCommand): Promise<void>;
  saveCommand(command: StoredCommand, dequeue?: boolean): Promise<void>;
  claimNext(agentId: string): Promise<StoredCommand | null>;
  claim(command: StoredCommand): Promise<boolean>;
  importFinished(commands: StoredCommand[]): Promise<void>;
  deleteCommand(id: string): Promise<number>;
  findRequest(userId: string, requestId: string): Promise<string | null>;
  getCommand(id: string): Promise<StoredCommand | null>;
  loadQueues(): Promise<Map<string, string[]>>;
  loadDispatched(): Promise<StoredCommand[]>;
  listRecent(
    agentId: string | undefined,
    limit: number,
  ): Promise<CommandInfo[]>;
  listRecentStored(
    agentId: string | undefined,
    limit: number,
  ): Promise<StoredCommand[]>;
  finishedWithOutput(): AsyncGenerator<
    { id: string; completedAt: number; bytes: number }
  >;
  finishedBefore(time: number): AsyncGenerator<string>;
  finishedAfter(
    cursor: [number, string] | null,
    limit: number,
  ): Promise<[number, string][]>;
  keptBytes(): Promise<number>;
  recordResize(
    commandId: string,
    afterSeq: number,
    resize: StoredResize,
  ): Promise<void>;
  readResizes(
    commandId: string,
  ): AsyncGenerator<{ afterSeq: number } & StoredResize>;
  saveAgent(info: AgentInfo): Promise<void>;
  deleteAgent(id: string): Promise<void>;
  loadAgents(): Promise<AgentInfo[]>;
}

/** Typed access to the KV store. */
export class Storage implements CommandStore {
  readonly kv: Deno.Kv;
  /**
   * Where output is stored: by default the output log's KV layout in the
   * same store; the server gives file-backed KV a FileOutputStore
   * (file_output.ts) on the same KV.
   */
  readonly output: OutputBackend;

  constructor(kv: Deno.Kv, output: OutputBackend = new OutputStore(kv)) {
    this.kv = kv;
    this.output = output;
  }

  /**
   * Build the indexes of this layout for data written by an older version
   * (one pass over every command, once); a no-op when they exist.
   */
  async migrate(): Promise<void> {
    const schema = await this.kv.get<number>(SCHEMA);
    if ((schema.value ?? 0) >= SCHEMA_VERSION) return;
    let op = this.kv.atomic();
    let count = 0;
    const flush = async () => {
      if (++count % 200 === 0) {
        await op.commit();
        op = this.kv.atomic();
      }
    };
    for await (
      const entry of this.kv.list<StoredCommand>({ prefix: ["cmd"] })
    ) {
      const { info, order, dispatched } = entry.value;
      op.set(["cmd_by_order", order, info.id], info.id);
      if (dispatched) op.set(["cmd_active", info.id], info.agentId);
      if (FINAL_STATUSES.has(info.status) && info.completedAt !== null) {
        op.set(["fin", info.completedAt, info.id], {
          agentId: info.agentId,
          order,
        });
      }
      await flush();
    }
    let kept = 0;
    for await (const entry of this.kv.list<number>({ prefix: ["done"] })) {
      kept += entry.value;
    }
    await op.set(KEPT_BYTES, new Deno.KvU64(BigInt(kept))).set(
      SCHEMA,
      SCHEMA_VERSION,
    ).commit();
  }

  /** Store a new command, its queue entry and history indexes at once. */
  async insertQueued(
    command: StoredCommand,
    requestKey?: [string, string],
  ): Promise<void> {
    const { info, order } = command;
    const op = this.kv.atomic()
      .set(["cmd", info.id], command)
      .set(["cmd_by_agent", info.agentId, order], info.id)
      .set(["cmd_by_order", order, info.id], info.id)
      .set(
        ["queue", info.agentId, PRIORITY_RANK[info.priority], order],
        info.id,
      );
    if (command.dispatched) op.set(["cmd_active", info.id], info.agentId);
    else op.delete(["cmd_active", info.id]);
    if (requestKey) {
      op.set(["req", ...requestKey], info.id, { expireIn: REQUEST_TTL_MS });
    }
    await op.commit();
  }

  /**
   * Store a new command that runs at once without a queue entry (a session),
   * its history indexes and its `["cmd_active"]` entry, at once.
   */
  async insertRunning(command: StoredCommand): Promise<void> {
    const { info, order } = command;
    await this.kv.atomic()
      .set(["cmd", info.id], command)
      .set(["cmd_by_agent", info.agentId, order], info.id)
      .set(["cmd_by_order", order, info.id], info.id)
      .set(["cmd_active", info.id], info.agentId)
      .commit();
  }

  /**
   * Save a command's record, removing its queue entry when `dequeue` is set.
   * Dispatched commands are indexed in `["cmd_active"]`; finished ones by
   * completion time in `["fin"]`, and in `["done"]` with their stored output
   * bytes while that output is kept (the `["stat", "kept_bytes"]` total
   * changes in the same atomic operation).
   */
  async saveCommand(command: StoredCommand, dequeue = false): Promise<void> {
    const { info } = command;
    const final = FINAL_STATUSES.has(info.status) && info.completedAt !== null;
    for (;;) {
      const op = this.kv.atomic().set(["cmd", info.id], command);
      if (command.dispatched) op.set(["cmd_active", info.id], info.agentId);
      else op.delete(["cmd_active", info.id]);
      if (final) {
        const completedAt = info.completedAt!;
        op.set(["fin", completedAt, info.id], {
          agentId: info.agentId,
          order: command.order,
        });
        const key = ["done", completedAt, info.id];
        const current = await this.kv.get<number>(key);
        op.check(current);
        const kept = command.retainedFromSeq === undefined;
        const bytes = kept ? command.storedBytes ?? info.outputBytes : 0;
        if (kept) op.set(key, bytes);
        else op.delete(key);
        const delta = bytes - (current.value ?? 0);
        if (delta !== 0) op.sum(KEPT_BYTES, u64(delta));
      }
      if (dequeue) {
        op.delete([
          "queue",
          info.agentId,
          PRIORITY_RANK[info.priority],
          command.order,
        ]);
      }
      // Only the ["done"] check can fail: retry with its new value.
      if ((await op.commit()).ok) return;
    }
  }

  /**
   * Save `command` (dispatched) and remove its queue entry in one atomic
   * operation, only while that entry is there: false, writing nothing, when
   * another caller claimed or removed it first. Of several callers (or
   * servers) claiming the same command, exactly one gets true.
   */
  async claim(command: StoredCommand): Promise<boolean> {
    const { info } = command;
    const key = [
      "queue",
      info.agentId,
      PRIORITY_RANK[info.priority],
      command.order,
    ];
    for (;;) {
      const entry = await this.kv.get(key);
      if (entry.versionstamp === null) return false;
      const op = this.kv.atomic().check(entry).delete(key)
        .set(["cmd", info.id], command);
      if (command.dispatched) op.set(["cmd_active", info.id], info.agentId);
      else op.delete(["cmd_active", info.id]);
      if ((await op.commit()).ok) return true;
    }
  }

  /**
   * Take the first entry of `agentId`'s queue (lowest priority rank, then
   * arrival order) and mark its command dispatched, in one atomic operation
   * checked against concurrent claims: of several callers (handles on the
   * same store) racing for the same queue, each entry goes to exactly one.
   * Returns the claimed command, or null when the queue is empty.
   */
  async claimNext(agentId: string): Promise<StoredCommand | null> {
    for (;;) {
      let head: Deno.KvEntry<string> | null = null;
      const iter = this.kv.list<string>({ prefix: ["queue", agentId] }, {
        limit: 1,
        consistency: "strong",
      });
      for await (const entry of iter) head = entry;
      if (!head) return null;
      const id = head.value;
      const current = await this.kv.get<StoredCommand>(["cmd", id]);
      const op = this.kv.atomic().check(head).delete(head.key);
      if (!current.value) {
        // A queue entry without its record: drop it and look further.
        await op.commit();
        continue;
      }
      const claimed: StoredCommand = { ...current.value, dispatched: true };
      op.check(current).set(["cmd", id], claimed).set(
        ["cmd_active", id],
        agentId,
      );
      if ((await op.commit()).ok) return claimed;
    }
  }

  /**
   * Store finished commands that are not stored yet, with their history and
   * retention indexes, many per atomic operation (imports, tests). Output is
   * appended separately.
   *
   * @throws {TypeError} for a command that is not finished.
   */
  async importFinished(commands: StoredCommand[]): Promise<void> {
    for (const { info } of commands) {
      if (!FINAL_STATUSES.has(info.status) || info.completedAt === null) {
        throw new TypeError(`Command "${info.id}" is not finished`);
      }
    }
    for (let i = 0; i < commands.length; i += 100) {
      const op = this.kv.atomic();
      let kept = 0;
      for (const command of commands.slice(i, i + 100)) {
        const { info, order } = command;
        const completedAt = info.completedAt!;
        op.set(["cmd", info.id], { ...command, dispatched: false })
          .set(["cmd_by_agent", info.agentId, order], info.id)
          .set(["cmd_by_order", order, info.id], info.id)
          .set(["fin", completedAt, info.id], { agentId: info.agentId, order });
        if (command.retainedFromSeq === undefined) {
          const bytes = command.storedBytes ?? info.outputBytes;
          op.set(["done", completedAt, info.id], bytes);
          kept += bytes;
        }
      }
      if (kept) op.sum(KEPT_BYTES, u64(kept));
      await op.commit();
    }
  }

  /**
   * Delete a finished command: its record, indexes, output and output
   * bookkeeping. Returns the stored output bytes freed.
   */
  async deleteCommand(id: string): Promise<number> {
    const stored = await this.getCommand(id);
    if (!stored) return 0;
    const { info, order } = stored;
    await this.output.delete(id);
    for (;;) {
      const op = this.kv.atomic()
        .delete(["cmd", id])
        .delete(["cmd_by_agent", info.agentId, order])
        .delete(["cmd_by_order", order, id])
        .delete(["cmd_active", id])
        .delete(["out_meta", id]);
      let freed = 0;
      if (info.completedAt !== null) {
        op.delete(["fin", info.completedAt, id]);
        const done = await this.kv.get<number>(["done", info.completedAt, id]);
        op.check(done).delete(done.key);
        freed = done.value ?? 0;
        if (freed !== 0) op.sum(KEPT_BYTES, u64(-freed));
      }
      if ((await op.commit()).ok) return freed;
    }
  }

  /** The command id an earlier request with this id created, if any. */
  async findRequest(userId: string, requestId: string): Promise<string | null> {
    const entry = await this.kv.get<string>(["req", userId, requestId]);
    return entry.value;
  }

  /** A stored command by id. */
  async getCommand(id: string): Promise<StoredCommand | null> {
    // Ids are at most 128 characters; a longer one (from a URL) is no
    // command, and would overrun Deno KV's key size.
    if (id.length > 128) return null;
    return (await this.kv.get<StoredCommand>(["cmd", id])).value;
  }

  /** Every command id in every queue, in queue order per agent. */
  async loadQueues(): Promise<Map<string, string[]>> {
    const queues = new Map<string, string[]>();
    for await (const entry of this.kv.list<string>({ prefix: ["queue"] })) {
      const agentId = String(entry.key[1]);
      const list = queues.get(agentId) ?? [];
      list.push(entry.value);
      queues.set(agentId, list);
    }
    return queues;
  }

  /** Commands that were sent to an agent and not finished (read by index). */
  async loadDispatched(): Promise<StoredCommand[]> {
    const ids: string[] = [];
    for await (const entry of this.kv.list({ prefix: ["cmd_active"] })) {
      ids.push(String(entry.key[1]));
    }
    return (await this.#getMany(ids)).filter((s) => s.dispatched);
  }

  /** The last `limit` commands of `agentId` (or of all agents), oldest first. */
  async listRecent(
    agentId: string | undefined,
    limit: number,
  ): Promise<CommandInfo[]> {
    return (await this.listRecentStored(agentId, limit)).map((s) => s.info);
  }

  /** Like {@link listRecent}, with the stored bookkeeping (arrival order). */
  async listRecentStored(
    agentId: string | undefined,
    limit: number,
  ): Promise<StoredCommand[]> {
    const ids: string[] = [];
    const prefix = agentId === undefined
      ? ["cmd_by_order"]
      : ["cmd_by_agent", agentId];
    const iter = this.kv.list<string>({ prefix }, { reverse: true, limit });
    for await (const entry of iter) ids.push(entry.value);
    ids.reverse();
    return await this.#getMany(ids);
  }

  async #getMany(ids: string[]): Promise<StoredCommand[]> {
    const commands: StoredCommand[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      const entries = await this.kv.getMany<StoredCommand[]>(
        ids.slice(i, i + 10).map((id) => ["cmd", id]),
      );
      for (const entry of entries) if (entry.value) commands.push(entry.value);
    }
    return commands;
  }

  /** Finished commands with kept output, oldest first: id and output bytes. */
  async *finishedWithOutput(): AsyncGenerator<
    { id: string; completedAt: number; bytes: number }
  > {
    for await (const entry of this.kv.list<number>({ prefix: ["done"] })) {
      yield {
        completedAt: Number(entry.key[1]),
        id: String(entry.key[2]),
        bytes: entry.value,
      };
    }
  }

  /** Ids of finished commands completed before `time`, oldest first. */
  async *finishedBefore(time: number): AsyncGenerator<string> {
    const iter = this.kv.list({ start: ["fin"], end: ["fin", time] });
    for await (const entry of iter) yield String(entry.key[2]);
  }

  /**
   * Up to `limit` finished commands after `cursor` (`[completedAt, id]`,
   * null: from the first) in completion order, as `[completedAt, id]`.
   */
  finishedAfter(
    cursor: [number, string] | null,
    limit: number,
  ): Promise<[number, string][]> {
    return finishedInKv(this.kv, cursor, limit);
  }

  /** Total output bytes of finished commands whose output is kept. */
  async keptBytes(): Promise<number> {
    const entry = await this.kv.get<Deno.KvU64>(KEPT_BYTES);
    return Number(entry.value?.value ?? 0n);
  }

  /**
   * Record that a command's terminal was resized after output `afterSeq`
   * (0: before any output). A later resize after the same seq replaces it.
   */
  async recordResize(
    commandId: string,
    afterSeq: number,
    resize: StoredResize,
  ): Promise<void> {
    await this.kv.set(["out_resize", commandId, afterSeq], {
      cols: resize.cols,
      rows: resize.rows,
      at: resize.at,
    });
  }

  /** A command's recorded resizes, in seq order. */
  async *readResizes(
    commandId: string,
  ): AsyncGenerator<{ afterSeq: number } & StoredResize> {
    const iter = this.kv.list<StoredResize>({
      prefix: ["out_resize", commandId],
    });
    for await (const entry of iter) {
      yield { afterSeq: Number(entry.key[2]), ...entry.value };
    }
  }

  /** Remember an agent so it is listed (offline) after a restart. */
  saveAgent(info: AgentInfo): Promise<void> {
    return this.#agentWrite(() => this.kv.set(["agent", info.id], info));
  }

  /**
   * Forget an agent (its command history stays, under retention). Agent
   * writes apply in call order, so a save issued before cannot bring it back.
   */
  deleteAgent(id: string): Promise<void> {
    return this.#agentWrite(() => this.kv.delete(["agent", id]));
  }

  #agentWrites: Promise<unknown> = Promise.resolve();

  #agentWrite(write: () => Promise<unknown>): Promise<void> {
    const done = this.#agentWrites.then(write);
    this.#agentWrites = done.catch(() => {});
    return done.then(() => {});
  }

  /** Agents seen before. */
  async loadAgents(): Promise<AgentInfo[]> {
    const agents: AgentInfo[] = [];
    for await (const entry of this.kv.list<AgentInfo>({ prefix: ["agent"] })) {
      agents.push(entry.value);
    }
    return agents;
  }
}
