/**
 * The part of Deno KV that sign-ins, tokens, sign-in codes, the audit trail
 * and the line and search indexes use ({@link KvLike}), and an
 * implementation of it over Redis ({@link RedisKv}), so that in cluster mode
 * (`FLIGHTDECK_REDIS_URL`) those modules share their state between server
 * processes without changing their code.
 *
 * What {@link RedisKv} keeps (each key behind the store's prefix, `fd:` by
 * default):
 * - `kv` → sorted set of every live key, all with score 0, member: the key
 *   encoded so that byte order is Deno KV's key order ({@link encodeKey}),
 *   so `list` (prefix, start/end, reverse, limit) is a `ZRANGEBYLEX`;
 * - `kv:<encoded key>` → hash `v` (the value as JSON), `s` (its
 *   versionstamp), with a TTL (`PEXPIRE`) when set with `expireIn`: a `get`
 *   after the TTL finds nothing;
 * - `kv_exp` → sorted set of the keys with a TTL, score: when it ends (ms);
 *   every commit removes up to 100 ended ones from `kv`, so the index does
 *   not grow with expired keys; `list` skips the ones not removed yet;
 * - `kv_vs` → the versionstamp counter.
 *
 * An atomic operation is one Lua script: its checks (versionstamp of a key,
 * or its absence) and, only when they all hold, its sets and deletes, with
 * one new versionstamp (20 digits, increasing). So `atomic().check()`
 * holds across every process sharing the Redis, as it does within one
 * Deno KV.
 *
 * Differences from Deno KV, none used by the modules above: key parts are
 * strings and numbers only, values are JSON (no `Uint8Array`, `KvU64`,
 * `Date`, `Map`), and there is no `sum`/`min`/`max`, queue or watch.
 *
 * @module
 */
import type { ChainableCommander, Redis } from "ioredis";

/** Options of a set. */
export interface KvSetOptions {
  /** Milliseconds until the entry is gone. */
  expireIn?: number;
}

/** The atomic operations of {@link KvLike}. */
export interface KvAtomic {
  check(...checks: Deno.AtomicCheck[]): this;
  set(key: Deno.KvKey, value: unknown, options?: KvSetOptions): this;
  delete(key: Deno.KvKey): this;
  commit(): Promise<Deno.KvCommitResult | Deno.KvCommitError>;
}

/**
 * The subset of `Deno.Kv` the shared modules use; a `Deno.Kv` is one, and
 * so is a {@link RedisKv}.
 */
export interface KvLike {
  get<T = unknown>(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<T>>;
  getMany<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: Deno.KvKey }],
  ): Promise<{ [K in keyof T]: Deno.KvEntryMaybe<T[K]> }>;
  set(
    key: Deno.KvKey,
    value: unknown,
    options?: KvSetOptions,
  ): Promise<Deno.KvCommitResult>;
  delete(key: Deno.KvKey): Promise<void>;
  list<T = unknown>(
    selector: Deno.KvListSelector,
    options?: Deno.KvListOptions,
  ): AsyncIterableIterator<Deno.KvEntry<T>>;
  atomic(): KvAtomic;
}

const STRING = "\x02";
const NUMBER = "\x21";
/** Above every tag: the end of a prefix range. */
const HIGH = "\xff";

/**
 * `key` as a string whose UTF-8 bytes sort as Deno KV sorts keys (for the
 * part types used here): per part a tag, then a string's characters (NUL
 * escaped as NUL 0xFF) ended by NUL, or a number's IEEE 754 bits, sign
 * flipped (all bits for a negative), as 16 hex digits.
 *
 * @throws {TypeError} for a part that is not a string or a number.
 */
export function encodeKey(key: Deno.KvKey): string {
  let out = "";
  for (const part of key) {
    if (typeof part === "string") {
      out += STRING + part.replaceAll("\x00", "\x00\xff") + "\x00";
    } else if (typeof part === "number") {
      const view = new DataView(new ArrayBuffer(8));
      view.setFloat64(0, part);
      const hi = view.getUint32(0);
      const lo = view.getUint32(4);
      const negative = hi >>> 31 === 1;
      const h = negative ? ~hi >>> 0 : (hi ^ 0x8000_0000) >>> 0;
      const l = negative ? ~lo >>> 0 : lo;
      out += NUMBER + h.toString(16).padStart(8, "0") +
        l.toString(16).padStart(8, "0");
    } else {
      throw new TypeError(
        `Shared KV key parts are strings or numbers, got ${typeof part}`,
      );
    }
  }
  return out;
}

/** The key {@link encodeKey} encoded. */
export function decodeKey(encoded: string): Deno.KvKey {
  const key: (string | number)[] = [];
  let i = 0;
  while (i < encoded.length) {
    const tag = encoded[i++];
    if (tag === STRING) {
      let text = "";
      for (;;) {
        const nul = encoded.indexOf("\x00", i);
        if (nul < 0) throw new TypeError("Unterminated key part");
        text += encoded.slice(i, nul);
        if (encoded[nul + 1] === "\xff") {
          text += "\x00";
          i = nul + 2;
        } else {
          i = nul + 1;
          break;
        }
      }
      key.push(text);
    } else if (tag === NUMBER) {
      let h = parseInt(encoded.slice(i, i + 8), 16);
      let l = parseInt(encoded.slice(i + 8, i + 16), 16);
      i += 16;
      if (h >>> 31 === 1) h = (h ^ 0x8000_0000) >>> 0;
      else {
        h = ~h >>> 0;
        l = ~l >>> 0;
      }
      const view = new DataView(new ArrayBuffer(8));
      view.setUint32(0, h);
      view.setUint32(4, l);
      key.push(view.getFloat64(0));
    } else throw new TypeError(`Unknown key part tag ${tag.charCodeAt(0)}`);
  }
  return key;
}

/**
 * ARGV: prefix, number of checks, per check: encoded key and versionstamp
 * ('' = must not exist); number of mutations, per mutation: op ('s' set,
 * 'd' delete), encoded key, JSON value, TTL in ms (0: none). Returns the
 * new versionstamp, or false (nil) when a check failed (nothing written).
 */
const COMMIT = `
local p = ARGV[1]
local idx = p .. 'kv'
local exp = p .. 'kv_exp'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  local cur = redis.call('HGET', p .. 'kv:' .. ARGV[i], 's')
  if ARGV[i + 1] == '' then
    if cur then return false end
  elseif cur ~= ARGV[i + 1] then
    return false
  end
  i = i + 2
end
local n = string.format('%.0f', redis.call('INCR', p .. 'kv_vs'))
local vs = string.rep('0', 20 - #n) .. n
local m = tonumber(ARGV[i])
i = i + 1
for _ = 1, m do
  local enc = ARGV[i + 1]
  local key = p .. 'kv:' .. enc
  redis.call('DEL', key)
  if ARGV[i] == 's' then
    redis.call('HSET', key, 'v', ARGV[i + 2], 's', vs)
    redis.call('ZADD', idx, 0, enc)
    local ttl = tonumber(ARGV[i + 3])
    if ttl > 0 then
      redis.call('PEXPIRE', key, ttl)
      redis.call('ZADD', exp, now + ttl, enc)
    else
      redis.call('ZREM', exp, enc)
    end
  else
    redis.call('ZREM', idx, enc)
    redis.call('ZREM', exp, enc)
  end
  i = i + 4
end
local ended = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'LIMIT', 0, 100)
for _, enc in ipairs(ended) do
  local ttl = redis.call('PTTL', p .. 'kv:' .. enc)
  if ttl < 0 then
    redis.call('ZREM', idx, enc)
    redis.call('ZREM', exp, enc)
  else
    redis.call('ZADD', exp, now + ttl, enc)
  end
end
return vs
`;

type Mutation =
  | { op: "s"; key: Deno.KvKey; value: unknown; expireIn?: number }
  | { op: "d"; key: Deno.KvKey };

/** An atomic operation of a {@link RedisKv}: one Lua script at commit. */
export class RedisAtomic implements KvAtomic {
  #kv: RedisKv;
  #checks: Deno.AtomicCheck[] = [];
  #mutations: Mutation[] = [];

  constructor(kv: RedisKv) {
    this.#kv = kv;
  }

  check(...checks: Deno.AtomicCheck[]): this {
    this.#checks.push(...checks);
    return this;
  }

  /** @throws {TypeError} for a value JSON cannot hold, or a bad key. */
  set(key: Deno.KvKey, value: unknown, options?: KvSetOptions): this {
    encodeKey(key);
    if (value === undefined || typeof value === "bigint") {
      throw new TypeError("Shared KV values are JSON");
    }
    this.#mutations.push({
      op: "s",
      key,
      value,
      ...(options?.expireIn === undefined
        ? {}
        : { expireIn: options.expireIn }),
    });
    return this;
  }

  delete(key: Deno.KvKey): this {
    encodeKey(key);
    this.#mutations.push({ op: "d", key });
    return this;
  }

  /** The script's arguments (after the prefix). */
  args(): string[] {
    const args = [String(this.#checks.length)];
    for (const check of this.#checks) {
      args.push(encodeKey(check.key), check.versionstamp ?? "");
    }
    args.push(String(this.#mutations.length));
    for (const m of this.#mutations) {
      if (m.op === "s") {
        const ttl = m.expireIn === undefined
          ? 0
          : Math.max(1, Math.ceil(m.expireIn));
        args.push("s", encodeKey(m.key), JSON.stringify(m.value), String(ttl));
      } else args.push("d", encodeKey(m.key), "", "0");
    }
    return args;
  }

  async commit(): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
    const result = await this.#kv.redis.eval(
      COMMIT,
      0,
      this.#kv.prefix,
      ...this.args(),
    ) as string | null;
    return result === null ? { ok: false } : { ok: true, versionstamp: result };
  }
}

/** Options of {@link RedisKv}. */
export interface RedisKvOptions {
  /** Prefix of every key (default `fd:`, as {@link RedisStorage}'s). */
  prefix?: string;
}

/** {@link KvLike} over Redis (see the module comment for the layout). */
export class RedisKv implements KvLike {
  readonly redis: Redis;
  readonly prefix: string;

  constructor(redis: Redis, options: RedisKvOptions = {}) {
    this.redis = redis;
    this.prefix = options.prefix ?? "fd:";
  }

  #valueKey(encoded: string): string {
    return `${this.prefix}kv:${encoded}`;
  }

  atomic(): RedisAtomic {
    return new RedisAtomic(this);
  }

  /**
   * Queue `atomic`'s script on `multi` (to run in the same transaction as
   * other writes); its checks, if any, are not reported.
   */
  queue(multi: ChainableCommander, atomic: RedisAtomic): void {
    multi.eval(COMMIT, 0, this.prefix, ...atomic.args());
  }

  async get<T = unknown>(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<T>> {
    const [entry] = await this.getMany<[T]>([key]);
    return entry;
  }

  async getMany<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: Deno.KvKey }],
  ): Promise<{ [K in keyof T]: Deno.KvEntryMaybe<T[K]> }> {
    if (keys.length === 0) return [] as unknown as { [K in keyof T]: never };
    const multi = this.redis.multi();
    for (const key of keys) {
      multi.hmget(this.#valueKey(encodeKey(key)), "v", "s");
    }
    const results = await multi.exec();
    if (results === null) throw new Error("Redis transaction was aborted");
    return keys.map((key, i) => {
      const [error, reply] = results[i];
      if (error) throw error;
      const [value, versionstamp] = reply as [string | null, string | null];
      return value === null || versionstamp === null
        ? { key, value: null, versionstamp: null }
        : { key, value: JSON.parse(value), versionstamp };
    }) as unknown as { [K in keyof T]: Deno.KvEntryMaybe<T[K]> };
  }

  async set(
    key: Deno.KvKey,
    value: unknown,
    options?: KvSetOptions,
  ): Promise<Deno.KvCommitResult> {
    return await this.atomic().set(key, value, options)
      .commit() as Deno.KvCommitResult;
  }

  async delete(key: Deno.KvKey): Promise<void> {
    await this.atomic().delete(key).commit();
  }

  /**
   * Entries in key order (reversed with `reverse`), `limit` at most, read
   * `batchSize` (default 100, at most 500) at a time; each batch is one
   * range read and one read of its values, so a long listing is not one
   * snapshot (as Deno KV's is not either).
   */
  async *list<T = unknown>(
    selector: Deno.KvListSelector,
    options: Deno.KvListOptions = {},
  ): AsyncIterableIterator<Deno.KvEntry<T>> {
    // Bounds as ZRANGEBYLEX takes them: "[x" inclusive, "(x" exclusive.
    let low: string;
    let high: string;
    if ("prefix" in selector) {
      const prefix = encodeKey(selector.prefix);
      low = "start" in selector && selector.start
        ? "[" + encodeKey(selector.start)
        : prefix === ""
        ? "-"
        : "(" + prefix;
      high = "end" in selector && selector.end
        ? "(" + encodeKey(selector.end)
        : prefix === ""
        ? "+"
        : "(" + prefix + HIGH;
    } else {
      low = "[" + encodeKey(selector.start);
      high = "(" + encodeKey(selector.end);
    }
    const reverse = options.reverse ?? false;
    let left = options.limit ?? Number.POSITIVE_INFINITY;
    const batch = Math.max(1, Math.min(500, options.batchSize ?? 100));
    const index = `${this.prefix}kv`;
    while (left > 0) {
      const count = Math.min(batch, left);
      const members = reverse
        ? await this.redis.zrevrangebylex(index, high, low, "LIMIT", 0, count)
        : await this.redis.zrangebylex(index, low, high, "LIMIT", 0, count);
      if (members.length === 0) return;
      const multi = this.redis.multi();
      for (const member of members) {
        multi.hmget(this.#valueKey(member), "v", "s");
      }
      const results = await multi.exec();
      if (results === null) throw new Error("Redis transaction was aborted");
      for (let i = 0; i < members.length; i++) {
        const [error, reply] = results[i];
        if (error) throw error;
        const [value, versionstamp] = reply as [string | null, string | null];
        // Expired and not swept from the index yet: not there.
        if (value === null || versionstamp === null) continue;
        left--;
        yield {
          key: decodeKey(members[i]),
          value: JSON.parse(value) as T,
          versionstamp,
        };
        if (left <= 0) return;
      }
      if (members.length < count) return;
      const last = members.at(-1)!;
      if (reverse) high = "(" + last;
      else low = "(" + last;
    }
  }
}
