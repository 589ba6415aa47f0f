/**
 * Deno KV layout for commands, queues and output logs.
 *
 * Keys:
 * - `["cmd", id]` → {@link StoredCommand}
 * - `["cmd_by_agent", agentId, order]` → command id (history per agent)
 * - `["cmd_by_order", order, id]` → command id (history of all agents, for
 *   the dashboard page)
 * - `["cmd_active", id]` → agent id, while a command is dispatched and not
 *   finished (read at start-up instead of every command)
 * - `["queue", agentId, rank, order]` → command id (durable queue order)
 * - `["out", commandId, seq, part]` → {@link StoredChunk} (values over KV's
 *   64 KiB limit are split into parts; part 0 says how many)
 * - `["out_meta", commandId]` → {@link OutputMeta}, written with every chunk
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
  byteLength,
  type CommandInfo,
  type EndedBy,
  FINAL_STATUSES,
  type Priority,
  type Stream,
} from "../protocol.ts";

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

/** One stored output chunk (or part of one). */
export interface StoredChunk {
  stream: Stream;
  data: string;
  /**
   * When the server received the chunk (ms since the epoch), on part 0.
   * Absent on chunks stored by older versions: readers take the previous
   * chunk's time, or the command's start.
   */
  at?: number;
  /** On part 0 of a chunk split into several parts: how many. */
  parts?: number;
}

/** Output bookkeeping of one command, kept exact with every chunk. */
export interface OutputMeta {
  /** Highest seq received. */
  lastSeq: number;
  /** UTF-8 bytes received in all (`CommandInfo.outputBytes`). */
  outputBytes: number;
  /** UTF-8 bytes still stored (at most the cap, plus the newest chunk). */
  storedBytes: number;
}

/** Ranks for priorities: lower runs first. */
export const PRIORITY_RANK: Record<Priority, number> = {
  high: 0,
  normal: 1,
  low: 2,
};

const REQUEST_TTL_MS = 10 * 60_000;
/** Largest string stored in one KV value (KV allows 64 KiB per value). */
const PART_CHARS = 16 * 1024;
/** Mutations per atomic operation when deleting many keys. */
const DELETE_BATCH = 500;
const KEPT_BYTES: Deno.KvKey = ["stat", "kept_bytes"];
const SCHEMA: Deno.KvKey = ["stat", "schema"];
const SCHEMA_VERSION = 2;

/** `n` (possibly negative) as an operand of `sum`, which wraps modulo 2^64. */
function u64(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

/** Typed access to the KV store. */
export class Storage {
  readonly kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.kv = kv;
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
    await this.deleteOutput(id);
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

  /**
   * Append one output chunk; with `meta`, write the command's output
   * bookkeeping in the same atomic operation.
   */
  async appendOutput(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    meta?: OutputMeta,
  ): Promise<void> {
    const op = this.kv.atomic();
    if (meta) op.set(["out_meta", commandId], meta);
    const at = chunk.at === undefined ? {} : { at: chunk.at };
    if (chunk.data.length <= PART_CHARS) {
      op.set(["out", commandId, seq, 0], {
        stream: chunk.stream,
        data: chunk.data,
        ...at,
      });
    } else {
      const parts: string[] = [];
      let start = 0;
      while (start < chunk.data.length) {
        let end = Math.min(start + PART_CHARS, chunk.data.length);
        // Keep surrogate pairs together.
        const code = chunk.data.charCodeAt(end - 1);
        if (code >= 0xd800 && code <= 0xdbff && end < chunk.data.length) end++;
        parts.push(chunk.data.slice(start, end));
        start = end;
      }
      parts.forEach((data, part) => {
        const value: StoredChunk = part === 0
          ? { stream: chunk.stream, data, parts: parts.length, ...at }
          : { stream: chunk.stream, data };
        op.set(["out", commandId, seq, part], value);
      });
    }
    await op.commit();
  }

  /** A command's output bookkeeping, if written by this layout. */
  async outputMeta(commandId: string): Promise<OutputMeta | null> {
    return (await this.kv.get<OutputMeta>(["out_meta", commandId])).value;
  }

  /**
   * Delete the oldest stored output chunks of a command with
   * `seq < beforeSeq`, whole chunks only, until at least `bytes` UTF-8 bytes
   * are freed. `meta` is the bookkeeping before the deletion; each atomic
   * deletion writes it with `storedBytes` lowered by what it removed.
   * Returns the bytes freed.
   */
  async dropOldestOutput(
    commandId: string,
    bytes: number,
    beforeSeq: number,
    meta: OutputMeta,
  ): Promise<number> {
    let freed = 0;
    let pending: Deno.KvKey[] = [];
    let pendingBytes = 0;
    let seq = -1;
    const commit = async () => {
      if (!pending.length) return;
      const op = this.kv.atomic();
      for (const key of pending) op.delete(key);
      freed += pendingBytes;
      op.set(["out_meta", commandId], {
        ...meta,
        storedBytes: meta.storedBytes - freed,
      });
      await op.commit();
      pending = [];
      pendingBytes = 0;
    };
    // Read ahead about what is needed (usually one chunk), not a full batch.
    const iter = this.kv.list<StoredChunk>({
      start: ["out", commandId],
      end: ["out", commandId, beforeSeq],
    }, { batchSize: Math.min(500, 2 + Math.ceil(bytes / 8192)) });
    for await (const entry of iter) {
      const entrySeq = Number(entry.key[2]);
      if (entrySeq !== seq) {
        // A chunk boundary: stop once enough is freed.
        if (freed + pendingBytes >= bytes) break;
        seq = entrySeq;
      }
      pending.push(entry.key);
      pendingBytes += byteLength(entry.value.data);
      if (pending.length >= DELETE_BATCH) await commit();
    }
    await commit();
    return freed;
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

  /** Total output bytes of finished commands whose output is kept. */
  async keptBytes(): Promise<number> {
    const entry = await this.kv.get<Deno.KvU64>(KEPT_BYTES);
    return Number(entry.value?.value ?? 0n);
  }

  /** Delete every output chunk and recorded resize of a command. */
  async deleteOutput(commandId: string): Promise<void> {
    let op = this.kv.atomic();
    let count = 0;
    for (const prefix of [["out", commandId], ["out_resize", commandId]]) {
      for await (const entry of this.kv.list({ prefix })) {
        op.delete(entry.key);
        if (++count % DELETE_BATCH === 0) {
          await op.commit();
          op = this.kv.atomic();
        }
      }
    }
    await op.commit();
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

  /**
   * Where a page of at most about `maxBytes` UTF-8 bytes of stored output
   * before `beforeSeq` starts: the lowest seq of the newest whole chunks
   * below `beforeSeq` that together stay within `maxBytes` (at least one
   * chunk). Null when nothing is stored below `beforeSeq`.
   */
  async pageStart(
    commandId: string,
    beforeSeq: number,
    maxBytes: number,
  ): Promise<number | null> {
    let start: number | null = null;
    let bytes = 0;
    const iter = this.kv.list<StoredChunk>({
      start: ["out", commandId],
      end: ["out", commandId, beforeSeq],
    }, { reverse: true, batchSize: 100 });
    for await (const entry of iter) {
      const seq = Number(entry.key[2]);
      const size = byteLength(entry.value.data);
      if (start !== null && seq !== start && bytes + size > maxBytes) break;
      bytes += size;
      start = seq;
    }
    return start;
  }

  /** Highest stored seq of a command (0 when none). */
  async lastSeq(commandId: string): Promise<number> {
    for await (
      const entry of this.kv.list({ prefix: ["out", commandId] }, {
        reverse: true,
        limit: 1,
      })
    ) return Number(entry.key[2]);
    return 0;
  }

  /**
   * Output chunks of a command with `afterSeq < seq <= upTo`, in order, parts
   * joined. A chunk whose parts were deleted while it was read (the
   * per-command cap) is left out, as if it had been deleted before.
   * `batchSize` KV entries (parts of at most 16 Ki characters) are read
   * ahead at a time.
   */
  async *readOutput(
    commandId: string,
    afterSeq: number,
    upTo: number = Number.MAX_SAFE_INTEGER - 1,
    batchSize = 500,
  ): AsyncGenerator<{ seq: number } & StoredChunk> {
    let current: ({ seq: number } & StoredChunk) | null = null;
    let expectedParts = 1;
    let readParts = 0;
    const iter = this.kv.list<StoredChunk>({
      start: ["out", commandId, afterSeq + 1],
      end: ["out", commandId, Math.min(upTo, Number.MAX_SAFE_INTEGER - 1) + 1],
    }, { batchSize });
    for await (const entry of iter) {
      const seq = Number(entry.key[2]);
      if (current && current.seq === seq) {
        current.data += entry.value.data;
        readParts++;
        continue;
      }
      if (current && readParts === expectedParts) yield current;
      current = null;
      // A chunk missing its first part was partly deleted: skip it.
      if (Number(entry.key[3]) !== 0) continue;
      current = { seq, stream: entry.value.stream, data: entry.value.data };
      if (entry.value.at !== undefined) current.at = entry.value.at;
      expectedParts = entry.value.parts ?? 1;
      readParts = 1;
    }
    if (current && readParts === expectedParts) yield current;
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
