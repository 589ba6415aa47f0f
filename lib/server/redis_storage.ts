/**
 * Commands, queues, agents and output in Redis (or Valkey), behind the same
 * {@link CommandStore} interface as the Deno KV layout in storage.ts, so
 * that several server processes can share them.
 *
 * Keys (each behind a prefix, `fd:` by default):
 * - `cmd:<id>` → {@link StoredCommand} as JSON
 * - `cmd_by_agent:<agentId>` → sorted set of command ids, score: order
 * - `cmd_by_order` → sorted set of every command id, score: order
 * - `cmd_active` → hash command id → agent id, while dispatched
 * - `queue:<agentId>` → sorted set, score: priority rank, member:
 *   `<order, 16 digits>|<id>` (so within a rank, arrival order)
 * - `queue_agents` → set of agent ids that may have a queue
 * - `req:<json [userId, requestId]>` → command id, expiring after 10 minutes
 * - `claim:<id>` → which store claimed the command, expiring after 10
 *   minutes (a repeated claim after a lost reply is answered the same)
 * - `agents` → hash agent id → AgentInfo as JSON
 * - `fin` → sorted set of finished command ids, score: completedAt
 * - `done` → sorted set of finished command ids whose output is kept,
 *   score: completedAt; `done_bytes` → hash id → their stored output bytes;
 *   `kept_bytes` → the sum of `done_bytes`, changed in the same script
 * - `out:<id>` → a Redis Stream, one entry per part of an output chunk (at
 *   most 16 Ki characters, as in KV) with entry id `<seq>-<part>` and
 *   fields `s` (stream), `d` (data), `a` (receive time, when known), `p`
 *   (on part 0 of a chunk in several parts: how many); replay and resume
 *   by seq are range reads by entry id
 * - `out_meta:<id>` → {@link OutputMeta} as JSON
 * - `out_resize:<id>` → hash afterSeq → {@link StoredResize} as JSON
 *
 * Multi-key writes are single Lua scripts or MULTI transactions, so a
 * reader never sees half of one; every key of a store lives on one Redis
 * (no Redis Cluster slots). The line index and the search index of output
 * live in the store's {@link KvLike}: a {@link RedisKv} on the same Redis
 * in cluster mode (shared by every node; a batch's line index entries are
 * written in the same MULTI as its stream entries), or a Deno KV.
 *
 * @module
 */
import { type ChainableCommander, Redis } from "ioredis";
import {
  type AgentInfo,
  byteLength,
  type CommandInfo,
  FINAL_STATUSES,
} from "../protocol.ts";
import {
  type OutputBackend,
  type OutputBatch,
  type OutputMeta,
  type ReadChunk,
  splitParts,
  type StoredChunk,
} from "./output_log.ts";
import { deleteLineIndex } from "./line_index.ts";
import { type KvLike, RedisKv } from "./redis_kv.ts";
import { deleteSearchEntries } from "./search_index.ts";
import {
  type CommandStore,
  PRIORITY_RANK,
  type StoredCommand,
  type StoredResize,
} from "./storage.ts";

const REQUEST_TTL_MS = 10 * 60_000;
/** Entries read per round trip when walking an index or a stream. */
const PAGE = 500;

/** Options of {@link RedisStorage}. */
export interface RedisStorageOptions {
  /** Prefix of every key (default `fd:`): several stores share one Redis. */
  prefix?: string;
}

/**
 * Reconnect delay after `attempt` failed attempts (1-based): 100 ms,
 * doubling, capped at {@link REDIS_RETRY_CAP_MS}, ±20 % jitter so that
 * several servers do not reconnect in step.
 */
export function redisRetryDelay(
  attempt: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(
    100 * 2 ** Math.min(attempt - 1, 16),
    REDIS_RETRY_CAP_MS,
  );
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Longest wait between two reconnect attempts (before jitter). */
export const REDIS_RETRY_CAP_MS = 2_000;
/** A command without a reply after this long fails (Redis hangs). */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;
/** How often a server checks that its Redis connection answers. */
export const REDIS_PING_INTERVAL_MS = 2_000;
/** A PING without an answer after this long drops the connection. */
export const REDIS_PING_TIMEOUT_MS = 2_000;
/** A connection attempt without an answer after this long fails. */
export const REDIS_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Open a client for `url`. Until its first connection is ready, commands
 * wait for it; from then on Redis trouble fails fast and nothing piles up
 * in the client:
 * - retries forever, with {@link redisRetryDelay} between attempts;
 * - `maxRetriesPerRequest: 0`: commands in flight when the connection
 *   drops fail at once (they are never sent again on the next connection,
 *   so a script whose reply was lost does not run twice; the callers'
 *   retries are idempotent instead);
 * - the offline queue is turned off once the first connection is ready:
 *   a command sent while disconnected fails at once (Stream isn't
 *   writeable) instead of waiting in memory for Redis to come back;
 * - `commandTimeout`: a command without a reply within
 *   {@link REDIS_COMMAND_TIMEOUT_MS} fails.
 * Every such failure is a `STORAGE_UNAVAILABLE` for clients
 * (errors.ts `storageUnavailable`).
 */
export function connectRedis(url: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => redisRetryDelay(attempt),
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
  redis.once("ready", () => {
    redis.options.enableOfflineQueue = false;
  });
  return redis;
}

/**
 * Run a MULTI transaction and throw the first error of its commands
 * (ioredis resolves `exec()` with one `[error, result]` pair per command).
 */
async function commit(multi: ChainableCommander): Promise<void> {
  const results = await multi.exec();
  if (results === null) throw new Error("Redis transaction was aborted");
  for (const [error] of results) if (error) throw error;
}

/** `order` as 16 digits, so members sort by it as text. */
function pad(order: number): string {
  return String(order).padStart(16, "0");
}

/** The queue member of a command. */
function queueMember(command: StoredCommand): string {
  return `${pad(command.order)}|${command.info.id}`;
}

/** Whether a command is finished with a completion time. */
function isFinal(info: CommandInfo): boolean {
  return FINAL_STATUSES.has(info.status) && info.completedAt !== null;
}

/** `seq` checked as an output seq (a stream entry id needs ≥ 1). */
function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new RangeError(`Output seq must be a positive integer, got ${seq}`);
  }
}

/**
 * KEYS: cmd, cmd_active, fin, done, done_bytes, kept_bytes, queue.
 * ARGV: id, json, dispatched, agentId, final, completedAt, kept, bytes,
 * dequeue, queue member.
 */
const SAVE_COMMAND = `
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
  local current = tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0')
  local bytes = 0
  if ARGV[7] == '1' then
    bytes = tonumber(ARGV[8])
    redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
    redis.call('HSET', KEYS[5], ARGV[1], ARGV[8])
  else
    redis.call('ZREM', KEYS[4], ARGV[1])
    redis.call('HDEL', KEYS[5], ARGV[1])
  end
  if bytes ~= current then
    redis.call('INCRBY', KEYS[6], string.format('%d', bytes - current))
  end
end
if ARGV[9] == '1' then redis.call('ZREM', KEYS[7], ARGV[10]) end
return 1
`;

/**
 * KEYS: queue, cmd_active. ARGV: key prefix, agent id.
 * Pops queue entries until one has a record; marks it dispatched (the
 * record's top-level `"dispatched":false` becomes `true`, the rest of the
 * JSON stays as written) and returns it; false when the queue is empty.
 */
const CLAIM_NEXT = `
while true do
  local popped = redis.call('ZPOPMIN', KEYS[1])
  if #popped == 0 then return false end
  local member = popped[1]
  local id = string.sub(member, string.find(member, '|', 1, true) + 1)
  local key = ARGV[1] .. 'cmd:' .. id
  local json = redis.call('GET', key)
  if json then
    local from, to = string.find(json, '"dispatched":false', 1, true)
    if from then
      json = string.sub(json, 1, from - 1) .. '"dispatched":true' ..
        string.sub(json, to + 1)
      redis.call('SET', key, json)
    end
    redis.call('HSET', KEYS[2], id, ARGV[2])
    return json
  end
end
`;

/**
 * KEYS: queue, cmd, cmd_active, claim. ARGV: queue member, record JSON, id,
 * agent id, dispatched, claimant, claim TTL (ms). Writes the record only
 * when this call removed the queue entry, and notes the claimant; returns
 * 1 then. Returns 1 too when the entry is gone and this claimant took it
 * (the same claim again after its reply was lost), else 0.
 */
const CLAIM = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  if redis.call('GET', KEYS[4]) == ARGV[6] then return 1 end
  return 0
end
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
else
  redis.call('HDEL', KEYS[3], ARGV[3])
end
redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[7])
return 1
`;

/** How long a claim's claimant is kept (to answer a repeated claim). */
const CLAIM_TTL_MS = 10 * 60_000;

/**
 * KEYS: cmd, cmd_by_agent, cmd_by_order, cmd_active, fin, done, done_bytes,
 * kept_bytes. ARGV: id. Returns the stored output bytes freed.
 */
const DELETE_COMMAND = `
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
local bytes = tonumber(redis.call('HGET', KEYS[7], ARGV[1]) or '0')
redis.call('HDEL', KEYS[7], ARGV[1])
if bytes ~= 0 then
  redis.call('INCRBY', KEYS[8], string.format('%d', -bytes))
end
return bytes
`;

/**
 * ARGV[1]: `strict` or `skip`; ARGV[2]: how many entries; then per entry
 * its stream key, entry id, number of field strings and the fields (ids
 * increasing per stream); then pairs of bookkeeping key and JSON. (Flat
 * arguments, not JSON: cjson refuses some strings, such as a lone
 * surrogate's escape.) Every id is first compared with its stream's newest
 * entry: `strict` fails before anything is written when one is not above
 * it; `skip` leaves such entries out (a batch stored before whose reply
 * was lost, sent again). Then the XADDs and the SETs, except a bookkeeping
 * whose stored `lastSeq` is higher (a late batch of a node that held the
 * agent before, stored after the new node's: it never sets it back).
 */
const APPEND = `
local function parse(id)
  local a, b = string.match(id, '^(%d+)%-(%d+)$')
  return tonumber(a), tonumber(b)
end
local function above(id, top)
  if not top then return true end
  local a, b = parse(id)
  local c, d = parse(top)
  return a > c or (a == c and b > d)
end
local entries = {}
local at = 3
for i = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[at + 2])
  entries[i] = { ARGV[at], ARGV[at + 1], at + 3, at + 2 + n }
  at = at + 3 + n
end
local tops = {}
local keep = {}
for i, entry in ipairs(entries) do
  local key = entry[1]
  if tops[key] == nil then
    local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    tops[key] = newest[1] and newest[1][1] or false
  end
  if above(entry[2], tops[key]) then
    keep[i] = true
  elseif ARGV[1] == 'strict' then
    return redis.error_reply('SEQ not above the last stored: ' .. entry[2])
  end
end
for i, entry in ipairs(entries) do
  if keep[i] then
    redis.call('XADD', entry[1], entry[2], unpack(ARGV, entry[3], entry[4]))
  end
end
for i = at, #ARGV, 2 do
  local old = redis.call('GET', ARGV[i])
  local ok, was = pcall(cjson.decode, old or 'null')
  local now = cjson.decode(ARGV[i + 1])
  if not (ok and type(was) == 'table' and type(was.lastSeq) == 'number' and
      was.lastSeq > now.lastSeq) then
    redis.call('SET', ARGV[i], ARGV[i + 1])
  end
end
return 1
`;

/** A stream entry as ioredis returns it: id and flat field list. */
type StreamEntry = [string, string[]];

/** A stream entry: its seq and part (from the id) and its stored value. */
function partOf([id, fields]: StreamEntry): {
  seq: number;
  part: number;
  value: StoredChunk;
} {
  const values: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    values[fields[i]] = fields[i + 1];
  }
  const dash = id.indexOf("-");
  const value: StoredChunk = {
    stream: values.s as StoredChunk["stream"],
    data: values.d ?? "",
  };
  if (values.a !== undefined) value.at = Number(values.a);
  if (values.p !== undefined) value.parts = Number(values.p);
  return {
    seq: Number(id.slice(0, dash)),
    part: Number(id.slice(dash + 1)),
    value,
  };
}

/** The fields of a stored part: `s` stream, `d` data, `a` time, `p` parts. */
function fieldsOf(value: StoredChunk): string[] {
  const fields = ["s", value.stream, "d", value.data];
  if (value.at !== undefined) fields.push("a", String(value.at));
  if (value.parts !== undefined) fields.push("p", String(value.parts));
  return fields;
}

/**
 * The output log in Redis Streams (see the module comment for keys): part
 * `n` of chunk `seq` is entry `<seq>-<n>`, as the KV layout's
 * `["out", id, seq, n]`. The line and search indexes are kept in
 * {@link kv}.
 */
export class RedisOutputStore implements OutputBackend {
  readonly redis: Redis;
  readonly prefix: string;
  readonly kv: KvLike;

  constructor(redis: Redis, prefix: string, kv: KvLike) {
    this.redis = redis;
    this.prefix = prefix;
    this.kv = kv;
  }

  /** Whether {@link kv} is a RedisKv on this store's Redis. */
  #sharedKv(): boolean {
    return this.kv instanceof RedisKv && this.kv.redis === this.redis;
  }

  #out(id: string): string {
    return `${this.prefix}out:${id}`;
  }

  #meta(id: string): string {
    return `${this.prefix}out_meta:${id}`;
  }

  /**
   * Run {@link APPEND}; in `strict` mode a seq not above the last becomes a
   * RangeError (nothing written).
   */
  async #append(
    mode: "strict" | "skip",
    entries: [string, string, string[]][],
    metas: [string, OutputMeta][],
    lines: OutputBatch["lines"] = [],
  ): Promise<void> {
    const args: string[] = [mode, String(entries.length)];
    for (const [key, id, fields] of entries) {
      args.push(key, id, String(fields.length), ...fields);
    }
    for (const [id, meta] of metas) {
      args.push(this.#meta(id), JSON.stringify(meta));
    }
    try {
      if (lines.length && this.kv instanceof RedisKv) {
        // The line index in the same transaction: a reader on any node
        // sees both or neither.
        const multi = this.redis.multi().eval(APPEND, 0, ...args);
        const op = this.kv.atomic();
        for (const [key, value] of lines) op.set(key, value);
        this.kv.queue(multi, op);
        await commit(multi);
      } else await this.redis.eval(APPEND, 0, ...args);
    } catch (error) {
      const message = String(error);
      if (message.includes("SEQ not above")) {
        throw new RangeError(
          `Output ${message.slice(message.indexOf("SEQ") + 4)}`,
        );
      }
      throw error;
    }
  }

  /**
   * Store one chunk (in parts of at most 16 Ki characters, entries
   * `<seq>-0`, `<seq>-1`, …), with `meta` in the same script.
   *
   * @throws {RangeError} when `seq` is not a positive integer above the
   * highest seq ever stored for the command (nothing is written).
   */
  async write(
    commandId: string,
    seq: number,
    chunk: StoredChunk,
    meta?: OutputMeta,
  ): Promise<void> {
    checkSeq(seq);
    const parts = splitParts(chunk.data);
    const at = chunk.at === undefined ? {} : { at: chunk.at };
    const entries = parts.map((data, part): [string, string, string[]] => [
      this.#out(commandId),
      `${seq}-${part}`,
      fieldsOf(
        part > 0
          ? { stream: chunk.stream, data }
          : parts.length === 1
          ? { stream: chunk.stream, data, ...at }
          : { stream: chunk.stream, data, parts: parts.length, ...at },
      ),
    ]);
    await this.#append("strict", entries, meta ? [[commandId, meta]] : []);
  }

  /**
   * Store one {@link OutputBatch}: the parts and bookkeeping in one script,
   * and the line index entries in the same MULTI when {@link kv} is a
   * {@link RedisKv} on this Redis (else in {@link kv} after it). Parts
   * already stored (the same batch again after a lost reply) are left out,
   * so a retry stores each part once, as KV's overwrite does.
   */
  async commit(batch: OutputBatch): Promise<void> {
    for (const { seq } of batch.parts) checkSeq(seq);
    await this.#append(
      "skip",
      batch.parts.map(({ commandId, seq, part, value }) => [
        this.#out(commandId),
        `${seq}-${part}`,
        fieldsOf(value),
      ]),
      batch.metas,
      this.#sharedKv() ? batch.lines : [],
    );
    if (batch.lines.length && !this.#sharedKv()) {
      const op = this.kv.atomic();
      for (const [key, value] of batch.lines) op.set(key, value);
      await op.commit();
    }
  }

  async meta(commandId: string): Promise<OutputMeta | null> {
    const json = await this.redis.get(this.#meta(commandId));
    return json === null ? null : JSON.parse(json) as OutputMeta;
  }

  /** As {@link OutputBackend.dropOldest}: XTRIM MINID and the bookkeeping. */
  async dropOldest(
    commandId: string,
    bytes: number,
    beforeSeq: number,
    meta: OutputMeta,
  ): Promise<number> {
    if (beforeSeq <= 1) return 0;
    let freed = 0;
    let minSeq = beforeSeq;
    let seq = -1;
    let start = "-";
    scan: for (;;) {
      const entries = await this.redis.xrange(
        this.#out(commandId),
        start,
        `${beforeSeq - 1}`,
        "COUNT",
        PAGE,
      ) as StreamEntry[];
      for (const entry of entries) {
        const part = partOf(entry);
        if (part.seq !== seq) {
          // A chunk boundary: stop once enough is freed.
          if (freed >= bytes) {
            minSeq = part.seq;
            break scan;
          }
          seq = part.seq;
        }
        freed += byteLength(part.value.data);
      }
      if (entries.length < PAGE) break;
      start = `(${entries.at(-1)![0]}`;
    }
    if (freed === 0) return 0;
    await commit(
      this.redis.multi()
        .xtrim(this.#out(commandId), "MINID", `${minSeq}-0`)
        .set(
          this.#meta(commandId),
          JSON.stringify({ ...meta, storedBytes: meta.storedBytes - freed }),
        ),
    );
    return freed;
  }

  /**
   * Delete a command's output, bookkeeping and resizes, and its line and
   * search index entries in {@link kv}.
   */
  async delete(commandId: string): Promise<void> {
    await this.redis.del(
      this.#out(commandId),
      this.#meta(commandId),
      `${this.prefix}out_resize:${commandId}`,
    );
    await deleteLineIndex(this.kv, commandId);
    await deleteSearchEntries(this.kv, commandId);
  }

  async pageStart(
    commandId: string,
    beforeSeq: number,
    maxBytes: number,
  ): Promise<number | null> {
    if (beforeSeq <= 1) return null;
    let start: number | null = null;
    let bytes = 0;
    let end = `${beforeSeq - 1}`;
    for (;;) {
      const entries = await this.redis.xrevrange(
        this.#out(commandId),
        end,
        "-",
        "COUNT",
        100,
      ) as StreamEntry[];
      for (const entry of entries) {
        const { seq, value } = partOf(entry);
        const size = byteLength(value.data);
        if (start !== null && seq !== start && bytes + size > maxBytes) {
          return start;
        }
        bytes += size;
        start = seq;
      }
      if (entries.length < 100) return start;
      end = `(${entries.at(-1)![0]}`;
    }
  }

  async lastSeq(commandId: string): Promise<number> {
    const entries = await this.redis.xrevrange(
      this.#out(commandId),
      "+",
      "-",
      "COUNT",
      1,
    ) as StreamEntry[];
    return entries.length ? partOf(entries[0]).seq : 0;
  }

  /**
   * As the KV layout's read: parts joined, a chunk missing a part (dropped
   * by the cap while read) left out.
   */
  async *read(
    commandId: string,
    afterSeq: number,
    upTo: number = Number.MAX_SAFE_INTEGER - 1,
    batchSize = PAGE,
  ): AsyncGenerator<ReadChunk> {
    if (upTo <= afterSeq) return;
    let start = `${Math.max(0, afterSeq) + 1}`;
    const end = `${Math.min(upTo, Number.MAX_SAFE_INTEGER - 1)}`;
    let current: ReadChunk | null = null;
    let expectedParts = 1;
    let readParts = 0;
    for (;;) {
      const entries = await this.redis.xrange(
        this.#out(commandId),
        start,
        end,
        "COUNT",
        batchSize,
      ) as StreamEntry[];
      for (const entry of entries) {
        const { seq, part, value } = partOf(entry);
        if (current && current.seq === seq) {
          current.data += value.data;
          readParts++;
          continue;
        }
        if (current && readParts === expectedParts) yield current;
        current = null;
        // A chunk missing its first part was partly deleted: skip it.
        if (part !== 0) continue;
        current = { seq, stream: value.stream, data: value.data };
        if (value.at !== undefined) current.at = value.at;
        expectedParts = value.parts ?? 1;
        readParts = 1;
      }
      if (entries.length < batchSize) break;
      start = `(${entries.at(-1)![0]}`;
    }
    if (current && readParts === expectedParts) yield current;
  }
}

/** Commands, queues, agents and output in Redis. */
export class RedisStorage implements CommandStore {
  readonly redis: Redis;
  readonly prefix: string;
  /**
   * Where the line and search indexes are kept: a {@link RedisKv} (shared,
   * cluster mode), or a Deno KV of this process.
   */
  readonly kv: KvLike;
  readonly output: RedisOutputStore;

  constructor(redis: Redis, kv: KvLike, options: RedisStorageOptions = {}) {
    this.redis = redis;
    this.kv = kv;
    this.prefix = options.prefix ?? "fd:";
    this.output = new RedisOutputStore(redis, this.prefix, kv);
  }

  #k(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }

  /** Nothing to migrate: this layout has one version. */
  async migrate(): Promise<void> {}

  async insertQueued(
    command: StoredCommand,
    requestKey?: [string, string],
  ): Promise<void> {
    const { info, order } = command;
    const multi = this.redis.multi()
      .set(this.#k("cmd", info.id), JSON.stringify(command))
      .zadd(this.#k("cmd_by_agent", info.agentId), order, info.id)
      .zadd(this.#k("cmd_by_order"), order, info.id)
      .zadd(
        this.#k("queue", info.agentId),
        PRIORITY_RANK[info.priority],
        queueMember(command),
      )
      .sadd(this.#k("queue_agents"), info.agentId);
    if (command.dispatched) {
      multi.hset(this.#k("cmd_active"), info.id, info.agentId);
    } else multi.hdel(this.#k("cmd_active"), info.id);
    if (requestKey) {
      multi.set(
        this.#k("req", JSON.stringify(requestKey)),
        info.id,
        "PX",
        REQUEST_TTL_MS,
      );
    }
    await commit(multi);
  }

  async insertRunning(command: StoredCommand): Promise<void> {
    const { info, order } = command;
    await commit(
      this.redis.multi()
        .set(this.#k("cmd", info.id), JSON.stringify(command))
        .zadd(this.#k("cmd_by_agent", info.agentId), order, info.id)
        .zadd(this.#k("cmd_by_order"), order, info.id)
        .hset(this.#k("cmd_active"), info.id, info.agentId),
    );
  }

  async saveCommand(command: StoredCommand, dequeue = false): Promise<void> {
    const { info } = command;
    const final = isFinal(info);
    const kept = command.retainedFromSeq === undefined;
    const bytes = kept ? command.storedBytes ?? info.outputBytes : 0;
    await this.redis.eval(
      SAVE_COMMAND,
      7,
      this.#k("cmd", info.id),
      this.#k("cmd_active"),
      this.#k("fin"),
      this.#k("done"),
      this.#k("done_bytes"),
      this.#k("kept_bytes"),
      this.#k("queue", info.agentId),
      info.id,
      JSON.stringify(command),
      command.dispatched ? "1" : "0",
      info.agentId,
      final ? "1" : "0",
      String(info.completedAt ?? 0),
      kept ? "1" : "0",
      String(bytes),
      dequeue ? "1" : "0",
      queueMember(command),
    );
  }

  /** This store's name in claims (one per server process). */
  readonly #claimant = crypto.randomUUID();

  /**
   * As {@link CommandStore.claim}: one Lua script removes the queue entry
   * and, only when it did, writes the record. Claiming again from this
   * store a command it claimed (after a reply lost with the connection)
   * answers true again; any other store gets false.
   */
  async claim(command: StoredCommand): Promise<boolean> {
    const { info } = command;
    const claimed = await this.redis.eval(
      CLAIM,
      4,
      this.#k("queue", info.agentId),
      this.#k("cmd", info.id),
      this.#k("cmd_active"),
      this.#k("claim", info.id),
      queueMember(command),
      JSON.stringify(command),
      info.id,
      info.agentId,
      command.dispatched ? "1" : "0",
      this.#claimant,
      String(CLAIM_TTL_MS),
    );
    return claimed === 1;
  }

  /**
   * As {@link CommandStore.claimNext}: one Lua script pops the queue's first
   * entry and marks its command dispatched, so of several servers racing
   * for the same queue, each entry goes to exactly one.
   */
  async claimNext(agentId: string): Promise<StoredCommand | null> {
    const json = await this.redis.eval(
      CLAIM_NEXT,
      2,
      this.#k("queue", agentId),
      this.#k("cmd_active"),
      this.prefix,
      agentId,
    ) as string | null;
    return json === null ? null : JSON.parse(json) as StoredCommand;
  }

  /**
   * Store finished commands that are not stored yet with their indexes, 100
   * per transaction.
   *
   * @throws {TypeError} for a command that is not finished.
   */
  async importFinished(commands: StoredCommand[]): Promise<void> {
    for (const { info } of commands) {
      if (!isFinal(info)) {
        throw new TypeError(`Command "${info.id}" is not finished`);
      }
    }
    for (let i = 0; i < commands.length; i += 100) {
      const multi = this.redis.multi();
      let kept = 0;
      for (const command of commands.slice(i, i + 100)) {
        const { info, order } = command;
        const completedAt = info.completedAt!;
        multi.set(
          this.#k("cmd", info.id),
          JSON.stringify({ ...command, dispatched: false }),
        )
          .zadd(this.#k("cmd_by_agent", info.agentId), order, info.id)
          .zadd(this.#k("cmd_by_order"), order, info.id)
          .zadd(this.#k("fin"), completedAt, info.id);
        if (command.retainedFromSeq === undefined) {
          const bytes = command.storedBytes ?? info.outputBytes;
          multi.zadd(this.#k("done"), completedAt, info.id)
            .hset(this.#k("done_bytes"), info.id, bytes);
          kept += bytes;
        }
      }
      if (kept) multi.incrby(this.#k("kept_bytes"), kept);
      await commit(multi);
    }
  }

  async deleteCommand(id: string): Promise<number> {
    const stored = await this.getCommand(id);
    if (!stored) return 0;
    await this.output.delete(id);
    const freed = await this.redis.eval(
      DELETE_COMMAND,
      8,
      this.#k("cmd", id),
      this.#k("cmd_by_agent", stored.info.agentId),
      this.#k("cmd_by_order"),
      this.#k("cmd_active"),
      this.#k("fin"),
      this.#k("done"),
      this.#k("done_bytes"),
      this.#k("kept_bytes"),
      id,
    );
    return Number(freed);
  }

  async findRequest(userId: string, requestId: string): Promise<string | null> {
    return await this.redis.get(
      this.#k("req", JSON.stringify([userId, requestId])),
    );
  }

  async getCommand(id: string): Promise<StoredCommand | null> {
    const json = await this.redis.get(this.#k("cmd", id));
    return json === null ? null : JSON.parse(json) as StoredCommand;
  }

  async loadQueues(): Promise<Map<string, string[]>> {
    const queues = new Map<string, string[]>();
    const agents = await this.redis.smembers(this.#k("queue_agents"));
    for (const agentId of agents.sort()) {
      const members = await this.redis.zrange(this.#k("queue", agentId), 0, -1);
      if (members.length === 0) {
        await this.redis.srem(this.#k("queue_agents"), agentId);
        continue;
      }
      queues.set(agentId, members.map((m) => m.slice(m.indexOf("|") + 1)));
    }
    return queues;
  }

  async loadDispatched(): Promise<StoredCommand[]> {
    const ids = await this.redis.hkeys(this.#k("cmd_active"));
    return (await this.#getMany(ids)).filter((s) => s.dispatched);
  }

  async listRecent(
    agentId: string | undefined,
    limit: number,
  ): Promise<CommandInfo[]> {
    return (await this.listRecentStored(agentId, limit)).map((s) => s.info);
  }

  async listRecentStored(
    agentId: string | undefined,
    limit: number,
  ): Promise<StoredCommand[]> {
    if (limit <= 0) return [];
    const key = agentId === undefined
      ? this.#k("cmd_by_order")
      : this.#k("cmd_by_agent", agentId);
    const ids = await this.redis.zrange(key, -limit, -1);
    return await this.#getMany(ids);
  }

  async #getMany(ids: string[]): Promise<StoredCommand[]> {
    const commands: StoredCommand[] = [];
    for (let i = 0; i < ids.length; i += PAGE) {
      const keys = ids.slice(i, i + PAGE).map((id) => this.#k("cmd", id));
      for (const json of await this.redis.mget(...keys)) {
        if (json !== null) commands.push(JSON.parse(json));
      }
    }
    return commands;
  }

  async *finishedWithOutput(): AsyncGenerator<
    { id: string; completedAt: number; bytes: number }
  > {
    for (let offset = 0;; offset += PAGE) {
      const flat = await this.redis.zrange(
        this.#k("done"),
        offset,
        offset + PAGE - 1,
        "WITHSCORES",
      );
      if (flat.length === 0) return;
      const ids: string[] = [];
      const times: number[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        ids.push(flat[i]);
        times.push(Number(flat[i + 1]));
      }
      const bytes = await this.redis.hmget(this.#k("done_bytes"), ...ids);
      for (let i = 0; i < ids.length; i++) {
        yield {
          id: ids[i],
          completedAt: times[i],
          bytes: Number(bytes[i] ?? 0),
        };
      }
      if (flat.length < PAGE * 2) return;
    }
  }

  async *finishedBefore(time: number): AsyncGenerator<string> {
    for (let offset = 0;; offset += PAGE) {
      const ids = await this.redis.zrangebyscore(
        this.#k("fin"),
        "-inf",
        `(${time}`,
        "LIMIT",
        offset,
        PAGE,
      );
      yield* ids;
      if (ids.length < PAGE) return;
    }
  }

  async finishedAfter(
    cursor: [number, string] | null,
    limit: number,
  ): Promise<[number, string][]> {
    const found: [number, string][] = [];
    if (limit <= 0) return found;
    for (let offset = 0;; offset += PAGE) {
      const flat = await this.redis.zrangebyscore(
        this.#k("fin"),
        cursor ? cursor[0] : "-inf",
        "+inf",
        "WITHSCORES",
        "LIMIT",
        offset,
        PAGE,
      );
      for (let i = 0; i < flat.length; i += 2) {
        const id = flat[i];
        const at = Number(flat[i + 1]);
        // Same time as the cursor: members sort by id, as KV keys do.
        if (cursor && at === cursor[0] && id <= cursor[1]) continue;
        found.push([at, id]);
        if (found.length >= limit) return found;
      }
      if (flat.length < PAGE * 2) return found;
    }
  }

  async keptBytes(): Promise<number> {
    return Number(await this.redis.get(this.#k("kept_bytes")) ?? 0);
  }

  async recordResize(
    commandId: string,
    afterSeq: number,
    resize: StoredResize,
  ): Promise<void> {
    await this.redis.hset(
      this.#k("out_resize", commandId),
      String(afterSeq),
      JSON.stringify({ cols: resize.cols, rows: resize.rows, at: resize.at }),
    );
  }

  async *readResizes(
    commandId: string,
  ): AsyncGenerator<{ afterSeq: number } & StoredResize> {
    const all = await this.redis.hgetall(this.#k("out_resize", commandId));
    const entries = Object.entries(all)
      .map(([seq, json]) => ({
        afterSeq: Number(seq),
        ...JSON.parse(json) as StoredResize,
      }))
      .sort((a, b) => a.afterSeq - b.afterSeq);
    yield* entries;
  }

  /** As on {@link CommandStore}: agent writes apply in call order. */
  saveAgent(info: AgentInfo): Promise<void> {
    return this.#agentWrite(() =>
      this.redis.hset(this.#k("agents"), info.id, JSON.stringify(info))
    );
  }

  deleteAgent(id: string): Promise<void> {
    return this.#agentWrite(() => this.redis.hdel(this.#k("agents"), id));
  }

  #agentWrites: Promise<unknown> = Promise.resolve();

  #agentWrite(write: () => Promise<unknown>): Promise<void> {
    const done = this.#agentWrites.then(write);
    this.#agentWrites = done.catch(() => {});
    return done.then(() => {});
  }

  async loadAgents(): Promise<AgentInfo[]> {
    const all = await this.redis.hvals(this.#k("agents"));
    return all.map((json) => JSON.parse(json) as AgentInfo);
  }
}
