/**
 * Search across all commands: a word index (in the storage's KV: Deno KV, or
 * the shared RedisKv in cluster mode) of every finished
 * command's text and output, so a string can be found in any command and
 * linked to its line.
 *
 * What is indexed: words (runs of letters, digits and `_`, 3 to 40
 * characters, lowercased) of the command text (line 0) and of its output's
 * plain text (escape sequences removed), each word once per command with the
 * line of its first occurrence. A prompt's output is its session's, indexed
 * with the session.
 *
 * Bounds: at most {@link MAX_WORDS_PER_COMMAND} distinct words per command
 * and only the first {@link MAX_SCAN_CHARS} of its output are read, so the
 * index holds at most 2 × MAX_WORDS_PER_COMMAND small entries per kept
 * command; a query reads at most {@link MAX_QUERY_ENTRIES} entries. Commands
 * are indexed once finished, by {@link SearchIndex.catchUp} (run on a timer),
 * in completion order from a cursor, at most {@link BATCH} per call.
 *
 * Retention: {@link deleteSearchEntries} runs with the deletion of a
 * command's output (OutputStore.delete), so the index never outlives the
 * output it points into.
 *
 * Keys:
 * - `["sx", word, commandId]` → 1-based line of the word's first
 *   occurrence (0: in the command text)
 * - `["sx_cmd", commandId, word]` → true (to delete a command's entries)
 * - `["sx_cursor"]` → `[completedAt, commandId]` of the last command indexed
 * - `["sx_lease"]` → which index runs a pass, expiring after
 *   {@link LEASE_MS} (only with {@link SearchSources.shared})
 *
 * Shared (cluster mode: the KV is the {@link RedisKv} every server uses):
 * a pass first takes the lease with an atomic check, and renews it after
 * each command; a server that cannot take it skips its pass, and one that
 * lost it stops. So one server indexes each command and every server reads
 * the one index. A server that dies holding the lease holds it at most
 * {@link LEASE_MS}; the next pass continues from the shared cursor.
 *
 * @module
 */
import type { CommandInfo } from "../protocol.ts";
import { walkLines } from "./log_reader.ts";
import { buildLineIndex, lastMark } from "./line_index.ts";
import { plainLine } from "./log_reader.ts";
import type { OutputBackend } from "./output_log.ts";
import type { KvLike } from "./redis_kv.ts";

/** Most distinct words indexed per command. */
export const MAX_WORDS_PER_COMMAND = 4000;
/** Output read per command for the index, in UTF-16 code units. */
export const MAX_SCAN_CHARS = 64 * 1024 * 1024;
/** Most index entries a query reads. */
export const MAX_QUERY_ENTRIES = 500;
/** Commands indexed per {@link SearchIndex.catchUp} call. */
const BATCH = 50;
const WORD = /[\p{L}\p{N}_]{3,40}/gu;
const CURSOR: Deno.KvKey = ["sx_cursor"];
const LEASE: Deno.KvKey = ["sx_lease"];
/** How long a pass holds the lease after taking or renewing it (ms). */
export const LEASE_MS = 60_000;

/** The words of `text`, lowercased, in order (with repeats). */
export function words(text: string): string[] {
  return Array.from(text.toLowerCase().matchAll(WORD), (m) => m[0]);
}

/** Delete every index entry of a command. */
export async function deleteSearchEntries(
  kv: KvLike,
  commandId: string,
): Promise<void> {
  let op = kv.atomic();
  let count = 0;
  for await (const entry of kv.list({ prefix: ["sx_cmd", commandId] })) {
    op.delete(entry.key).delete(["sx", String(entry.key[2]), commandId]);
    if (++count % 250 === 0) {
      await op.commit();
      op = kv.atomic();
    }
  }
  await op.commit();
}

/** One result of a search across commands. */
export interface CommandHit {
  commandId: string;
  agentId: string;
  command: string;
  /** 1-based line of the first occurrence of the word; 0: the command text. */
  line: number;
  /** The line's plain text (start), or the command text. */
  text: string;
  /** Whether that line contains the whole query (case-insensitive). */
  exact: boolean;
}

/** What the index reads: commands and their output. */
export interface SearchSources {
  kv: KvLike;
  output: OutputBackend;
  getCommand(
    id: string,
  ): Promise<{ info: CommandInfo; retainedFromSeq?: number } | null>;
  /**
   * Finished commands after a cursor, in completion order
   * (`CommandStore.finishedAfter`). Absent: read from the Deno KV layout's
   * `["fin"]` index in {@link kv}.
   */
  finishedAfter?(
    cursor: [number, string] | null,
    limit: number,
  ): Promise<[number, string][]>;
  /** Told of a command that could not be indexed (it is skipped). */
  onError?: (id: string, error: unknown) => void;
  /**
   * Whether other servers index into the same KV (cluster mode): passes
   * then take the lease (see the module comment).
   */
  shared?: boolean;
}

/**
 * Key bytes written per KV commit at most: Deno KV refuses a commit whose
 * keys total over 80 KiB, and a word of 40 CJK characters is 120 bytes.
 */
const MAX_KEY_BYTES_PER_COMMIT = 48 * 1024;

const utf8 = new TextEncoder();

/** The catch-up cursor passes commands finished at least this long ago (ms). */
const SETTLE_MS = 2_000;

/**
 * Up to `limit` finished commands after `cursor` in the Deno KV layout's
 * `["fin", completedAt, id]` index (storage.ts), as `[completedAt, id]`.
 */
export async function finishedInKv(
  kv: KvLike,
  cursor: [number, string] | null,
  limit: number,
): Promise<[number, string][]> {
  const found: [number, string][] = [];
  const iter = kv.list({
    start: cursor ? ["fin", cursor[0], cursor[1]] : ["fin"],
    end: ["fin", Number.MAX_SAFE_INTEGER],
  }, { limit: limit + 1 });
  for await (const entry of iter) {
    const at = Number(entry.key[1]);
    const id = String(entry.key[2]);
    if (cursor && at === cursor[0] && id === cursor[1]) continue;
    found.push([at, id]);
    if (found.length >= limit) break;
  }
  return found;
}

/** The word index: filled by {@link catchUp}, read by {@link search}. */
export class SearchIndex {
  readonly #s: SearchSources;
  #running: Promise<number> | null = null;

  readonly #now: () => number;

  constructor(sources: SearchSources, now: () => number = Date.now) {
    this.#s = sources;
    this.#now = now;
  }

  /**
   * Index commands finished since the last call (at most a batch); returns
   * how many. Concurrent calls share one pass.
   */
  catchUp(): Promise<number> {
    if (!this.#running) {
      this.#running = this.#catchUp().finally(() => this.#running = null);
    }
    return this.#running;
  }

  /** Resolves when no indexing pass is running (errors are the pass's). */
  async idle(): Promise<void> {
    await this.#running?.catch(() => 0);
  }

  /** This index's name in the lease. */
  readonly #owner = crypto.randomUUID();

  /**
   * Take the lease (when `held`, renew it: it must still be that entry);
   * the new entry, or null when another index holds it.
   */
  async #lease(
    held: Deno.KvEntryMaybe<unknown> | null,
  ): Promise<Deno.KvEntryMaybe<unknown> | null> {
    const { kv } = this.#s;
    const committed = await kv.atomic()
      .check(held ?? { key: LEASE, versionstamp: null })
      .set(LEASE, this.#owner, { expireIn: LEASE_MS })
      .commit();
    return committed.ok
      ? { key: LEASE, value: this.#owner, versionstamp: committed.versionstamp }
      : null;
  }

  async #catchUp(): Promise<number> {
    if (!this.#s.shared) return await this.#pass(null);
    let lease = await this.#lease(null);
    if (!lease) return 0;
    try {
      return await this.#pass(async () => !!(lease = await this.#lease(lease)));
    } finally {
      if (lease) {
        await this.#s.kv.atomic().check(lease).delete(LEASE).commit();
      }
    }
  }

  /**
   * One pass; with `renew`, called after each command, it stops when that
   * returns false (the lease was lost).
   */
  async #pass(renew: (() => Promise<boolean>) | null): Promise<number> {
    const { kv } = this.#s;
    const cursor = (await kv.get<[number, string]>(CURSOR)).value;
    const settled = this.#now() - SETTLE_MS;
    let done = 0;
    const finished = this.#s.finishedAfter
      ? await this.#s.finishedAfter(cursor, BATCH)
      : await finishedInKv(kv, cursor, BATCH);
    for (const [at, id] of finished) {
      try {
        await this.indexCommand(id);
      } catch (error) {
        // One command that cannot be indexed must not stop the others:
        // leave none of its entries and move on.
        this.#s.onError?.(id, error);
        await deleteSearchEntries(kv, id).catch(() => {});
      }
      // The cursor passes only commands finished a while ago: one finishing
      // meanwhile in the same millisecond with a smaller id would sort
      // before it and never be indexed. Recent ones are indexed again on
      // the next pass (indexing replaces a command's entries).
      if (at < settled) await kv.set(CURSOR, [at, id]);
      done++;
      if (renew && !await renew()) break;
    }
    return done;
  }

  /** Index one command's text and output (replacing its entries). */
  async indexCommand(id: string): Promise<void> {
    const { kv } = this.#s;
    const stored = await this.#s.getCommand(id);
    // Gone, or its output removed by retention: nothing to point into.
    if (!stored || stored.retainedFromSeq !== undefined) return;
    await deleteSearchEntries(kv, id);
    const info = stored.info;
    const found = new Map<string, number>();
    for (const word of words(info.command)) {
      if (found.size >= MAX_WORDS_PER_COMMAND) break;
      if (!found.has(word)) found.set(word, 0);
    }
    if (info.kind !== "prompt") {
      if (
        !await lastMark(kv, id) && await this.#s.output.lastSeq(id) > 0
      ) {
        // No line index in this KV (written by an older version, or by
        // another server sharing Redis): build it from the output once.
        await buildLineIndex(kv, id, this.#s.output.read(id, 0));
      }
      let scanned = 0;
      const all = { start: 0, end: Number.MAX_SAFE_INTEGER };
      for await (const item of walkLines(this.#s.output, id, 0, all)) {
        if ("fromSeq" in item || item.text === null) continue;
        scanned += item.text.length + 1;
        for (const word of words(plainLine(item.text))) {
          if (found.size >= MAX_WORDS_PER_COMMAND) break;
          if (!found.has(word)) found.set(word, item.line + 1);
        }
        if (found.size >= MAX_WORDS_PER_COMMAND || scanned >= MAX_SCAN_CHARS) {
          break;
        }
      }
    }
    let op = kv.atomic();
    let keyBytes = 0;
    const idBytes = utf8.encode(id).length;
    for (const [word, line] of found) {
      // Both keys hold the word and the id, plus a little framing each.
      const bytes = 2 * (utf8.encode(word).length + idBytes + 16);
      if (keyBytes + bytes > MAX_KEY_BYTES_PER_COMMIT) {
        await op.commit();
        op = kv.atomic();
        keyBytes = 0;
      }
      op.set(["sx", word, id], line).set(["sx_cmd", id, word], true);
      keyBytes += bytes;
    }
    await op.commit();
    // Deleted or trimmed meanwhile (retention): leave nothing behind.
    const after = await this.#s.getCommand(id);
    if (!after || after.retainedFromSeq !== undefined) {
      await deleteSearchEntries(kv, id);
    }
  }

  /**
   * Commands whose text or output has a word starting with the query's
   * longest word, with the line of that word's first occurrence; those
   * whose line (or command text) holds the whole query first. At most
   * `limit` results.
   *
   * @throws {RangeError} when the query has no word of 3 or more letters or
   * digits.
   */
  async search(query: string, limit: number): Promise<CommandHit[]> {
    const longest = words(query).sort((a, b) => b.length - a.length)[0];
    if (!longest) {
      throw new RangeError(
        `Query "${
          query.slice(0, 40)
        }" has no word of 3 or more letters or digits`,
      );
    }
    const { kv } = this.#s;
    const needle = query.toLowerCase();
    const seen = new Set<string>();
    const hits: CommandHit[] = [];
    const iter = kv.list<number>({
      start: ["sx", longest],
      end: ["sx", longest + "\u{10ffff}"],
    }, { limit: MAX_QUERY_ENTRIES, batchSize: 100 });
    for await (const entry of iter) {
      const id = String(entry.key[2]);
      if (seen.has(id)) continue;
      seen.add(id);
      const stored = await this.#s.getCommand(id);
      if (!stored) continue;
      const info = stored.info;
      let text = info.command;
      const line = entry.value;
      if (line > 0) {
        for await (
          const item of walkLines(this.#s.output, id, line - 1, {
            start: 0,
            end: line,
          })
        ) {
          if (!("fromSeq" in item) && item.text !== null) {
            text = plainLine(item.text);
          }
        }
      }
      hits.push({
        commandId: id,
        agentId: info.agentId,
        command: info.command.slice(0, 200),
        line,
        text: text.slice(0, 240),
        exact: text.toLowerCase().includes(needle),
      });
      if (hits.length >= limit * 2) break;
    }
    hits.sort((a, b) => Number(b.exact) - Number(a.exact));
    return hits.slice(0, limit);
  }
}
