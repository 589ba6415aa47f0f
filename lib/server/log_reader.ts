/**
 * Windows of a command's output by line, and search in it, read from the
 * stored chunks through the line index ({@link ./line_index.ts}): a window
 * costs one index lookup plus the chunks it covers, whatever the log's size.
 *
 * @module
 */
import { PlainText } from "./plain_text.ts";
import type { OutputBackend } from "./output_log.ts";
import {
  lastMark,
  type LineMark,
  linesThrough,
  locateLine,
  marksFrom,
} from "./line_index.ts";

/** Longest line returned, in UTF-16 code units; the rest is cut. */
export const MAX_LINE_CHARS = 16 * 1024;
/** Most lines per window. */
export const MAX_WINDOW_LINES = 2000;
/** Most hits per search request. */
export const MAX_SEARCH_HITS = 500;
/** Output scanned per search request before it returns where to go on. */
export const SEARCH_SCAN_CHARS = 32 * 1024 * 1024;
/** Longest text of a hit returned, in code units. */
const HIT_TEXT_CHARS = 240;

/** Lines `[start, end)` (0-based) of a log: a whole command or a prompt's turn. */
export interface LineBounds {
  start: number;
  end: number;
}

/** A line of output as read: its text, or null where it is not stored. */
export interface ReadLine {
  /** 0-based line. */
  line: number;
  text: string | null;
  /** Code units cut from a line longer than {@link MAX_LINE_CHARS}. */
  cut: number;
  /** Whether some of its text came from stderr. */
  err?: boolean;
}

/** Output seqs never received, before `line` (0-based). */
export interface SeqGap {
  line: number;
  fromSeq: number;
  toSeq: number;
}

/**
 * Walk the lines of `commandId`'s output from 0-based line `from`, in
 * order, with seq gaps, until `bounds.end` or the end of the output; the
 * caller stops early by returning from the loop.
 */
export async function* walkLines(
  storage: OutputBackend,
  commandId: string,
  from: number,
  bounds: LineBounds,
): AsyncGenerator<ReadLine | SeqGap> {
  const kv = storage.kv;
  const start = await locateLine(kv, commandId, Math.max(from, bounds.start));
  if (!start) return;
  const chunks = storage.read(commandId, start.seq - 1, undefined, 64);
  let chunk = await chunks.next();
  let line = start.firstLine;
  let text = "";
  let cut = 0;
  let missing = false;
  let err = false;
  let stderr = false;
  let prevSeq: number | null = null;
  const first = Math.max(from, bounds.start);
  const take = (piece: string) => {
    if (stderr && piece.length > 0) err = true;
    const room = MAX_LINE_CHARS - text.length;
    if (piece.length <= room) text += piece;
    else {
      text += piece.slice(0, room);
      cut += piece.length - room;
    }
  };
  /** The line ended: what to yield (undefined: before the window). */
  const end = (): ReadLine | undefined => {
    const out = line >= first
      ? {
        line,
        text: missing ? null : text,
        cut: missing ? 0 : cut,
        ...(err && !missing ? { err } : {}),
      }
      : undefined;
    line++;
    text = "";
    cut = 0;
    missing = false;
    err = false;
    return out;
  };
  try {
    for await (const mark of marksFrom(kv, commandId, start)) {
      if (line >= bounds.end) return;
      while (!chunk.done && chunk.value.seq < mark.seq) {
        chunk = await chunks.next();
      }
      if (
        prevSeq !== null && mark.seq > prevSeq + 1 && line >= first
      ) yield { line, fromSeq: prevSeq + 1, toSeq: mark.seq - 1 };
      prevSeq = mark.seq;
      line = Math.max(line, mark.firstLine);
      if (chunk.done || chunk.value.seq !== mark.seq) {
        // Not stored (dropped by the per-command cap): its lines are gone.
        missing = true;
        for (let i = 0; i < mark.newlines; i++) {
          const out = end();
          if (out) yield out;
          if (line >= bounds.end) return;
          missing = true;
        }
        missing = mark.newlines === 0 || !mark.endsLine;
        continue;
      }
      const data = chunk.value.data;
      stderr = chunk.value.stream === "stderr";
      let pos = 0;
      for (;;) {
        const nl = data.indexOf("\n", pos);
        if (nl < 0) break;
        take(data.slice(pos, nl));
        pos = nl + 1;
        const out = end();
        if (out) yield out;
        if (line >= bounds.end) return;
      }
      if (pos < data.length) take(data.slice(pos));
    }
    if ((text || cut || missing || err) && line < bounds.end && line >= first) {
      yield end()!;
    }
  } finally {
    await chunks.return(undefined);
  }
}

/** Output read before a line at most, by {@link textBefore}. */
export const MAX_BEFORE_CHARS = 1024 * 1024;

/**
 * The output before 0-based line `line`, for the terminal state (colors)
 * at that line's start: reads back from the line's chunk, 4, 16, 64… chunks,
 * until the text reaches the output's first stored chunk, holds an SGR reset
 * (`ESC[m`, `ESC[0m`, `ESC c`: what came before no longer matters) or is
 * {@link MAX_BEFORE_CHARS} long. `complete` says whether it did one of the
 * first two (the state computed from it is then exact).
 */
export async function textBefore(
  storage: OutputBackend,
  commandId: string,
  line: number,
): Promise<{ text: string; complete: boolean }> {
  if (line <= 0) return { text: "", complete: true };
  const mark = await locateLine(storage.kv, commandId, line);
  if (!mark) return { text: "", complete: true };
  for (let back = 4;; back *= 4) {
    const fromSeq = Math.max(1, mark.seq - back);
    let text = "";
    let first = true;
    let atStart = false;
    for await (
      const chunk of storage.read(commandId, fromSeq - 1, mark.seq, 64)
    ) {
      if (first) {
        // Nothing stored before it: this is the start of what is kept.
        atStart = fromSeq === 1 || (await firstSeq(storage, commandId)) ===
            chunk.seq;
        first = false;
      }
      if (chunk.seq < mark.seq) {
        text += chunk.data;
        // Only the last MAX_BEFORE_CHARS are used: hold no more than twice.
        if (text.length > 2 * MAX_BEFORE_CHARS) {
          text = text.slice(-MAX_BEFORE_CHARS);
        }
        continue;
      }
      // The line's chunk (it starts on an earlier line): up to its
      // `line - firstLine`-th `\n`, the one that ends line `line - 1`.
      let pos = -1;
      for (let k = mark.firstLine; k < line; k++) {
        pos = chunk.data.indexOf("\n", pos + 1);
        if (pos < 0) break;
      }
      text += pos >= 0 ? chunk.data.slice(0, pos + 1) : chunk.data;
    }
    if (text.length > MAX_BEFORE_CHARS) text = text.slice(-MAX_BEFORE_CHARS);
    const complete = atStart || first || RESET.test(text);
    if (complete || text.length >= MAX_BEFORE_CHARS || fromSeq === 1) {
      return { text, complete: complete || fromSeq === 1 };
    }
  }
}

// deno-lint-ignore no-control-regex -- SGR resets and RIS
const RESET = /\x1b\[0?m|\x1b\[0;|\x1bc/;

/** The seq of a command's first stored chunk, or null. */
async function firstSeq(
  storage: OutputBackend,
  commandId: string,
): Promise<number | null> {
  for await (const chunk of storage.read(commandId, 0, undefined, 1)) {
    return chunk.seq;
  }
  return null;
}

/** A window of lines. */
export interface LineWindow {
  lines: ReadLine[];
  gaps: SeqGap[];
}

/**
 * At most `count` lines from 0-based line `from` (at most
 * {@link MAX_WINDOW_LINES}, fewer when `maxChars` of text is reached).
 */
export async function readWindow(
  storage: OutputBackend,
  commandId: string,
  from: number,
  count: number,
  bounds: LineBounds,
  maxChars = 4 * 1024 * 1024,
): Promise<LineWindow> {
  const lines: ReadLine[] = [];
  const gaps: SeqGap[] = [];
  let chars = 0;
  const limit = Math.min(count, MAX_WINDOW_LINES);
  if (limit <= 0) return { lines, gaps };
  for await (const item of walkLines(storage, commandId, from, bounds)) {
    if ("fromSeq" in item) {
      gaps.push(item);
      continue;
    }
    lines.push(item);
    chars += item.text?.length ?? 0;
    if (lines.length >= limit || (chars >= maxChars && lines.length > 0)) {
      break;
    }
  }
  return { lines, gaps };
}

/** Lines `[start, end)` of a whole command's output, from its index. */
export async function commandBounds(
  storage: OutputBackend,
  commandId: string,
): Promise<LineBounds & { last: LineMark | null }> {
  const last = await lastMark(storage.kv, commandId);
  return { start: 0, end: last ? linesThrough(last) : 0, last };
}

// deno-lint-ignore no-control-regex -- controls that need the converter
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** The plain text of one line (escape sequences removed, `\r` applied). */
export function plainLine(raw: string): string {
  if (!CONTROLS.test(raw)) return raw;
  const text = new PlainText();
  return (text.push(raw) + text.end()).replace(/\n$/, "");
}

/** A search hit: a 0-based line and the start of its plain text. */
export interface SearchHit {
  line: number;
  text: string;
}

/** A page of search hits and where the next page starts. */
export interface SearchPage {
  hits: SearchHit[];
  /** 0-based line to continue from, or null when the log was searched to the end. */
  next: number | null;
}

/**
 * Lines from 0-based line `from` whose plain text contains `query`
 * (case-insensitive): at most `limit` hits, scanning at most
 * {@link SEARCH_SCAN_CHARS} of output per call.
 */
export async function searchLines(
  storage: OutputBackend,
  commandId: string,
  query: string,
  options: { from: number; limit: number; bounds: LineBounds },
): Promise<SearchPage> {
  const needle = query.toLowerCase();
  const hits: SearchHit[] = [];
  let scanned = 0;
  let next: number | null = null;
  const { from, bounds } = options;
  const limit = Math.min(options.limit, MAX_SEARCH_HITS);
  for await (const item of walkLines(storage, commandId, from, bounds)) {
    if ("fromSeq" in item || item.text === null) continue;
    if (hits.length >= limit || scanned >= SEARCH_SCAN_CHARS) {
      next = item.line;
      break;
    }
    scanned += item.text.length + 1;
    const plain = plainLine(item.text);
    if (plain.toLowerCase().includes(needle)) {
      hits.push({ line: item.line, text: plain.slice(0, HIT_TEXT_CHARS) });
    }
  }
  return { hits, next };
}
