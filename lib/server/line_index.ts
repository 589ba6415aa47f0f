/**
 * The line index of command output: one small KV entry per stored chunk,
 * written with the chunk, saying on which line the chunk starts, so a log
 * page can open at any line of a log of any size with one KV lookup.
 *
 * Keys: `["out_line", commandId, firstLine, seq]` → `[newlines, endsLine]`,
 * where `firstLine` is the number of `\n` received before chunk `seq` (the
 * 0-based line its first character is on), `newlines` the number of `\n` in
 * it and `endsLine` 1 when its last character is `\n`. Lines are what `\n`
 * separates in the output as received (a `\r` overwrite stays on its line),
 * counted over everything received: chunks dropped later by the
 * per-command cap keep their entries, so the lines after them keep their
 * numbers and the dropped ones show as a gap. Entries are deleted with the
 * output ({@link deleteLineIndex}, by retention).
 *
 * @module
 */
import type { KvLike } from "./redis_kv.ts";

/** KV key prefix of the line index. */
export const LINE_INDEX = "out_line";

/** One index entry: where a chunk starts and how many lines it ends. */
export interface LineMark {
  seq: number;
  /** 0-based line of the chunk's first character. */
  firstLine: number;
  /** `\n` characters in the chunk. */
  newlines: number;
  /** Whether the chunk ends with `\n`. */
  endsLine: boolean;
}

/** Number of `\n` in `data`. */
export function countNewlines(data: string): number {
  let n = 0;
  let at = data.indexOf("\n");
  while (at >= 0) {
    n++;
    at = data.indexOf("\n", at + 1);
  }
  return n;
}

/** The KV key and value of the index entry of `mark`. */
export function lineEntry(
  commandId: string,
  mark: LineMark,
): [Deno.KvKey, [number, number]] {
  return [
    [LINE_INDEX, commandId, mark.firstLine, mark.seq],
    [mark.newlines, mark.endsLine ? 1 : 0],
  ];
}

function toMark(entry: Deno.KvEntry<[number, number]>): LineMark {
  return {
    firstLine: Number(entry.key[2]),
    seq: Number(entry.key[3]),
    newlines: entry.value[0],
    endsLine: entry.value[1] === 1,
  };
}

/** Lines of output that ends after `mark` (a partial last line counts). */
export function linesThrough(mark: LineMark): number {
  return mark.firstLine + mark.newlines + (mark.endsLine ? 0 : 1);
}

/** The newest index entry of a command, or null. */
export async function lastMark(
  kv: KvLike,
  commandId: string,
): Promise<LineMark | null> {
  const iter = kv.list<[number, number]>({
    prefix: [LINE_INDEX, commandId],
  }, { reverse: true, limit: 1 });
  for await (const entry of iter) return toMark(entry);
  return null;
}

/**
 * The entry of the chunk where 0-based line `line` starts: the last chunk
 * that starts on an earlier line (it holds the `\n` before `line`), or the
 * first chunk for line 0. Null when the index is empty.
 */
export async function locateLine(
  kv: KvLike,
  commandId: string,
  line: number,
): Promise<LineMark | null> {
  const iter = line <= 0
    ? kv.list<[number, number]>({ prefix: [LINE_INDEX, commandId] }, {
      limit: 1,
    })
    : kv.list<[number, number]>({
      start: [LINE_INDEX, commandId],
      end: [LINE_INDEX, commandId, line],
    }, { reverse: true, limit: 1 });
  for await (const entry of iter) return toMark(entry);
  return null;
}

/**
 * The entry of chunk `seq`, or of the first indexed chunk after it; null
 * when none. Found by bisecting on lines (both grow together): about
 * log2(lines) lookups.
 */
export async function locateSeq(
  kv: KvLike,
  commandId: string,
  seq: number,
): Promise<LineMark | null> {
  const last = await lastMark(kv, commandId);
  if (!last || last.seq < seq) return null;
  // Find the lowest line whose locating entry has seq >= `seq`.
  let lo = 0, hi = last.firstLine + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const mark = await locateLine(kv, commandId, mid);
    if (mark && mark.seq >= seq) hi = mid;
    else lo = mid + 1;
  }
  // Entries from the one locating `lo - 1` on: the first with seq >= `seq`.
  const from = await locateLine(kv, commandId, Math.max(0, lo - 1));
  for await (const mark of marksFrom(kv, commandId, from)) {
    if (mark.seq >= seq) return mark;
  }
  return null;
}

/** Index entries from `from` (inclusive; null: the first) on, in order. */
export async function* marksFrom(
  kv: KvLike,
  commandId: string,
  from: LineMark | null,
  batchSize = 200,
): AsyncGenerator<LineMark> {
  const iter = kv.list<[number, number]>({
    start: from
      ? [LINE_INDEX, commandId, from.firstLine, from.seq]
      : [LINE_INDEX, commandId],
    end: [LINE_INDEX, commandId, Number.MAX_SAFE_INTEGER],
  }, { batchSize });
  for await (const entry of iter) yield toMark(entry);
}

/**
 * Build the line index of a command stored before it existed, from its
 * stored chunks (lines are numbered from the first stored one). Only for a
 * finished command: a running one indexes its chunks as they arrive.
 * Writing the same entries twice is harmless.
 */
export async function buildLineIndex(
  kv: KvLike,
  commandId: string,
  chunks: AsyncIterable<{ seq: number; data: string }>,
): Promise<void> {
  let op = kv.atomic();
  let line = 0;
  let count = 0;
  for await (const chunk of chunks) {
    const mark = {
      seq: chunk.seq,
      firstLine: line,
      newlines: countNewlines(chunk.data),
      endsLine: chunk.data.endsWith("\n"),
    };
    const [key, value] = lineEntry(commandId, mark);
    op.set(key, value);
    line += mark.newlines;
    if (++count % 500 === 0) {
      await op.commit();
      op = kv.atomic();
    }
  }
  await op.commit();
}

/** Delete a command's line index. */
export async function deleteLineIndex(
  kv: KvLike,
  commandId: string,
): Promise<void> {
  let op = kv.atomic();
  let count = 0;
  for await (const entry of kv.list({ prefix: [LINE_INDEX, commandId] })) {
    op.delete(entry.key);
    if (++count % 500 === 0) {
      await op.commit();
      op = kv.atomic();
    }
  }
  await op.commit();
}
