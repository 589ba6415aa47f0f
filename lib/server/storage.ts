/**
 * Deno KV layout for commands, queues and output logs.
 *
 * Keys:
 * - `["cmd", id]` → {@link StoredCommand}
 * - `["cmd_by_agent", agentId, order]` → command id (history, oldest first)
 * - `["queue", agentId, rank, order]` → command id (durable queue order)
 * - `["out", commandId, seq, part]` → {@link StoredChunk} (values over KV's
 *   64 KiB limit are split into parts)
 * - `["req", userId, requestId]` → command id, expiring after 10 minutes
 * - `["agent", id]` → AgentInfo
 * - `["done", completedAt, id]` → output bytes of a finished command whose
 *   output is still kept (oldest first, for retention)
 *
 * @module
 */
import {
  type AgentInfo,
  type CommandInfo,
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
  timeoutMs: number | null;
  /** Highest output seq, recorded when the command finishes. */
  lastSeq?: number;
  /** Output before this seq was removed by retention. */
  retainedFromSeq?: number;
}

/** One stored output chunk (or part of one). */
export interface StoredChunk {
  stream: Stream;
  data: string;
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

/** Typed access to the KV store. */
export class Storage {
  readonly kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.kv = kv;
  }

  /** Store a new command, its queue entry and history index at once. */
  async insertQueued(
    command: StoredCommand,
    requestKey?: [string, string],
  ): Promise<void> {
    const { info, order } = command;
    const op = this.kv.atomic()
      .set(["cmd", info.id], command)
      .set(["cmd_by_agent", info.agentId, order], info.id)
      .set(
        ["queue", info.agentId, PRIORITY_RANK[info.priority], order],
        info.id,
      );
    if (requestKey) {
      op.set(["req", ...requestKey], info.id, { expireIn: REQUEST_TTL_MS });
    }
    await op.commit();
  }

  /**
   * Save a command's record, removing its queue entry when `dequeue` is set.
   * Finished commands whose output is kept are indexed by completion time
   * for retention (`["done", completedAt, id]` → output bytes).
   */
  async saveCommand(command: StoredCommand, dequeue = false): Promise<void> {
    const { info } = command;
    const op = this.kv.atomic().set(["cmd", info.id], command);
    if (FINAL_STATUSES.has(info.status) && info.completedAt !== null) {
      const key = ["done", info.completedAt, info.id];
      if (command.retainedFromSeq === undefined) op.set(key, info.outputBytes);
      else op.delete(key);
    }
    if (dequeue) {
      op.delete([
        "queue",
        command.info.agentId,
        PRIORITY_RANK[command.info.priority],
        command.order,
      ]);
    }
    await op.commit();
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

  /** Commands that were sent to an agent and not finished. */
  async loadDispatched(): Promise<StoredCommand[]> {
    const found: StoredCommand[] = [];
    for await (
      const entry of this.kv.list<StoredCommand>({ prefix: ["cmd"] })
    ) {
      if (entry.value.dispatched) found.push(entry.value);
    }
    return found;
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
    if (agentId !== undefined) {
      const iter = this.kv.list<string>({ prefix: ["cmd_by_agent", agentId] }, {
        reverse: true,
        limit,
      });
      for await (const entry of iter) ids.push(entry.value);
    } else {
      const all: { order: number; id: string }[] = [];
      for await (
        const entry of this.kv.list<string>({ prefix: ["cmd_by_agent"] })
      ) {
        all.push({ order: Number(entry.key[2]), id: entry.value });
      }
      all.sort((a, b) => b.order - a.order);
      ids.push(...all.slice(0, limit).map((e) => e.id));
    }
    ids.reverse();
    const commands: StoredCommand[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      const entries = await this.kv.getMany<StoredCommand[]>(
        ids.slice(i, i + 10).map((id) => ["cmd", id]),
      );
      for (const entry of entries) if (entry.value) commands.push(entry.value);
    }
    return commands;
  }

  /** Append one output chunk. */
  async appendOutput(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
  ): Promise<void> {
    const op = this.kv.atomic();
    if (chunk.data.length <= PART_CHARS) {
      op.set(["out", commandId, seq, 0], chunk);
    } else {
      let part = 0;
      let start = 0;
      while (start < chunk.data.length) {
        let end = Math.min(start + PART_CHARS, chunk.data.length);
        // Keep surrogate pairs together.
        const code = chunk.data.charCodeAt(end - 1);
        if (code >= 0xd800 && code <= 0xdbff && end < chunk.data.length) end++;
        op.set(["out", commandId, seq, part++], {
          stream: chunk.stream,
          data: chunk.data.slice(start, end),
        });
        start = end;
      }
    }
    await op.commit();
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

  /** Delete every output chunk of a command. */
  async deleteOutput(commandId: string): Promise<void> {
    let op = this.kv.atomic();
    let count = 0;
    for await (const entry of this.kv.list({ prefix: ["out", commandId] })) {
      op.delete(entry.key);
      if (++count % 500 === 0) {
        await op.commit();
        op = this.kv.atomic();
      }
    }
    await op.commit();
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

  /** Output chunks of a command with `afterSeq < seq <= upTo`, in order, parts joined. */
  async *readOutput(
    commandId: string,
    afterSeq: number,
    upTo: number = Number.MAX_SAFE_INTEGER - 1,
  ): AsyncGenerator<{ seq: number } & StoredChunk> {
    let current: ({ seq: number } & StoredChunk) | null = null;
    const iter = this.kv.list<StoredChunk>({
      start: ["out", commandId, afterSeq + 1],
      end: ["out", commandId, Math.min(upTo, Number.MAX_SAFE_INTEGER - 1) + 1],
    }, { batchSize: 500 });
    for await (const entry of iter) {
      const seq = Number(entry.key[2]);
      if (current && current.seq === seq) {
        current.data += entry.value.data;
        continue;
      }
      if (current) yield current;
      current = { seq, ...entry.value };
    }
    if (current) yield current;
  }

  /** Remember an agent so it is listed (offline) after a restart. */
  async saveAgent(info: AgentInfo): Promise<void> {
    await this.kv.set(["agent", info.id], info);
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
