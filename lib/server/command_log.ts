/**
 * A command's log as the log page reads it: which stored output (a prompt
 * reads its turn in its session's output), which lines, and what is gone;
 * query parsing for the line and search endpoints.
 *
 * Line numbers in the API and the page are 1-based; a prompt's lines are
 * numbered as in its session's log.
 *
 * @module
 */
import type { CommandInfo } from "../protocol.ts";
import { FlightdeckError } from "./errors.ts";
import {
  buildLineIndex,
  lastMark,
  linesThrough,
  locateSeq,
} from "./line_index.ts";
import {
  commandBounds,
  type LineBounds,
  MAX_SEARCH_HITS,
  MAX_WINDOW_LINES,
} from "./log_reader.ts";
import type { CommandStore } from "./storage.ts";

/** Longest search query, in characters. */
export const MAX_QUERY_CHARS = 200;

/** Reads a log needs. */
export interface LogSources {
  commands: {
    get(id: string): Promise<CommandInfo | null>;
    lastSeq(id: string): Promise<number>;
  };
  storage: CommandStore;
}

/** An opened log. */
export interface CommandLog {
  record: CommandInfo;
  /** The command whose output is read (a prompt's session). */
  sourceId: string;
  /** 0-based lines `[start, end)`. */
  bounds: LineBounds;
  /**
   * Output no longer stored at all (retention, or stored before the line
   * index existed): its seqs; null when the lines are readable.
   */
  removed: { fromSeq: number; toSeq: number } | null;
}

/**
 * Open command `id`'s log.
 *
 * @throws {FlightdeckError} NOT_FOUND for an unknown command.
 */
export async function openLog(
  sources: LogSources,
  id: string,
): Promise<CommandLog> {
  const record = await sources.commands.get(id);
  if (!record) {
    throw new FlightdeckError("NOT_FOUND", `Unknown command "${id}"`);
  }
  let sourceId = record.id;
  let bounds: LineBounds;
  const source = record.kind === "prompt" && record.session
    ? await sources.commands.get(record.session.commandId)
    : record;
  if (
    source && source.status !== "queued" && source.status !== "running" &&
    !await lastMark(sources.storage.kv, source.id) &&
    await sources.storage.output.lastSeq(source.id) > 0
  ) {
    // Stored by a version without the line index: index it once now.
    await buildLineIndex(
      sources.storage.kv,
      source.id,
      sources.storage.output.read(source.id, 0),
    );
  }
  let seqs = { fromSeq: 1, toSeq: 0 };
  const { kv } = sources.storage;
  if (record.kind === "prompt") {
    const turn = record.session;
    if (!turn) {
      return { record, sourceId, bounds: { start: 0, end: 0 }, removed: null };
    }
    sourceId = turn.commandId;
    const last = await sources.commands.lastSeq(sourceId);
    const toSeq = turn.toSeq === null ? last : Math.min(turn.toSeq, last);
    seqs = { fromSeq: Math.max(1, turn.fromSeq), toSeq };
    const from = await locateSeq(kv, sourceId, seqs.fromSeq);
    if (!from || from.seq > toSeq) bounds = { start: 0, end: 0 };
    else {
      const to = await locateSeq(kv, sourceId, toSeq);
      const end = !to
        ? (await commandBounds(sources.storage.output, sourceId)).end
        : to.seq === toSeq
        ? linesThrough(to)
        : to.firstLine;
      bounds = { start: from.firstLine, end };
    }
  } else {
    bounds = {
      start: 0,
      end: (await commandBounds(sources.storage.output, id)).end,
    };
    seqs = { fromSeq: 1, toSeq: await sources.commands.lastSeq(record.id) };
  }
  const removed = bounds.end === bounds.start && seqs.toSeq >= seqs.fromSeq &&
      record.outputBytes > 0
    ? seqs
    : null;
  return { record, sourceId, bounds, removed };
}

const WHOLE = /^[0-9]{1,15}$/;

/**
 * A whole number query parameter from `min`, or `fallback` when absent.
 *
 * @throws {FlightdeckError} INVALID_MESSAGE when not a whole number in range.
 */
export function intParam(
  name: string,
  value: string | null,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === null) return fallback;
  const n = Number(value);
  if (!WHOLE.test(value) || n < min || n > max) {
    throw new FlightdeckError(
      "INVALID_MESSAGE",
      `Bad "${name}" "${
        value.slice(0, 40)
      }": expected a whole number from ${min} to ${max}`,
    );
  }
  return n;
}

/** Parse `from` (1-based line) and `count` of a window request. */
export function windowQuery(
  params: URLSearchParams,
): { from: number; count: number } {
  return {
    from: intParam("from", params.get("from"), 1, 1),
    count: intParam("count", params.get("count"), 200, 1, MAX_WINDOW_LINES),
  };
}

/**
 * Parse `q`, `from` (1-based line) and `limit` of a search request.
 *
 * @throws {FlightdeckError} INVALID_MESSAGE for a missing, empty or too long
 * query or a bad number.
 */
export function searchQuery(
  params: URLSearchParams,
): { q: string; from: number; limit: number } {
  const q = params.get("q") ?? "";
  if (q.trim() === "") {
    throw new FlightdeckError(
      "INVALID_MESSAGE",
      `Missing "q": the text to search for`,
    );
  }
  if (q.length > MAX_QUERY_CHARS) {
    throw new FlightdeckError(
      "INVALID_MESSAGE",
      `Query too long: ${q.length} characters, at most ${MAX_QUERY_CHARS}`,
    );
  }
  return {
    q,
    from: intParam("from", params.get("from"), 1, 1),
    limit: intParam("limit", params.get("limit"), 100, 1, MAX_SEARCH_HITS),
  };
}
