/**
 * Recordings: a command's stored output (or a prompt's slice of its session,
 * or any seq range) as an asciicast v2 file (`.cast`, plays in asciinema) or
 * as plain text, streamed chunk by chunk from storage.
 *
 * - `.cast`: a header line (`version: 2`, `width`/`height`: the terminal size
 *   at the start of the range, `timestamp`: the start in seconds since the
 *   epoch, `title`: agent and command, `env.TERM`), then one line per event:
 *   `[seconds, "o", data]` per stored chunk (its data exactly for PTY
 *   output; pipe output, stdout and stderr, with each bare `\n` written as
 *   `\r\n`, as the dashboard shows it; times from the server's receive
 *   time, relative to the start, never decreasing),
 *   `[seconds, "r", "COLSxROWS"]` per recorded resize, and
 *   `[seconds, "m", "output trimmed: seq A..B"]` (a marker) where output of
 *   the range is no longer stored (retention, or dropped by the agent).
 * - `raw` (`.log`): the stored output exactly as the agent sent it, escape
 *   sequences and all, chunk after chunk; a missing span adds nothing.
 * - `.txt`: the output with escape sequences removed and carriage-return
 *   overwrites applied ({@link PlainText}); a missing span is the line
 *   `[output trimmed: seq A..B]`.
 *
 * Times: a chunk stored without a receive time (older versions) takes the
 * previous chunk's, or the start's. The start is the command's start for a
 * whole command, else the first chunk's time.
 *
 * @module
 */
import type { CommandInfo, Stream } from "../protocol.ts";
import { FlightdeckError } from "./errors.ts";
import { PlainText } from "./plain_text.ts";
import type { ReadChunk } from "./output_log.ts";
import type { CommandStore, TerminalSize } from "./storage.ts";

/** Formats of a recording. */
export const RECORDING_FORMATS = ["cast", "txt", "raw"] as const;
export type RecordingFormat = typeof RECORDING_FORMATS[number];

/** Content types by format. */
export const RECORDING_CONTENT_TYPES: Record<RecordingFormat, string> = {
  cast: "application/x-asciicast",
  txt: "text/plain; charset=utf-8",
  raw: "application/octet-stream",
};

/**
 * Size in the header when the start size is not known: an exec command
 * without a PTY, or one stored by an older version (the agent's default
 * `--cols`/`--rows`).
 */
export const DEFAULT_SIZE: Readonly<TerminalSize> = { cols: 120, rows: 40 };
/** `TERM` in the header: what the agent sets for its programs. */
const TERM = "xterm-256color";
/**
 * KV entries read ahead per batch (each at most 16 Ki characters): what one
 * download holds beyond the chunk being sent is about 0.5 MiB.
 */
const READ_AHEAD = 32;
/** Longest title, in characters. */
const MAX_TITLE = 200;

/** What a recording request asks for (query parameters, unparsed). */
export interface RecordingQuery {
  format?: string | null;
  from?: string | null;
  to?: string | null;
}

/** Reads a recording needs: live command state and storage. */
export interface RecordingSources {
  commands: {
    get(id: string): Promise<CommandInfo | null>;
    lastSeq(id: string): Promise<number>;
    /**
     * Output with `afterSeq < seq <= upTo`, in order: stored, and of a
     * running command also what was sent live and is not stored yet.
     */
    readOutput(
      id: string,
      afterSeq: number,
      upTo: number,
      batchSize?: number,
    ): AsyncGenerator<ReadChunk>;
  };
  storage: CommandStore;
  /** An agent's display name, if known. */
  agentName(agentId: string): string | undefined;
}

/** A recording ready to stream. */
export interface Recording {
  format: RecordingFormat;
  contentType: string;
  /** A safe file name (ASCII letters, digits, `.`, `_`, `-`). */
  filename: string;
  /** The file, produced as it is read. */
  body: ReadableStream<Uint8Array>;
}

/** What is recorded: whose output, which seqs, and how to head it. */
interface Plan {
  record: CommandInfo;
  /** The command whose output is read (a prompt's session). */
  sourceId: string;
  fromSeq: number;
  /** Inclusive; below `fromSeq` when there is nothing to read. */
  toSeq: number;
  /** Time 0 of the recording; null: the first chunk's time. */
  startAt: number | null;
  /** The fallback time of chunks stored without one. */
  fallbackAt: number;
  size: TerminalSize;
  title: string;
}

const SEQ = /^[1-9][0-9]{0,15}$/;

function parseSeq(name: string, value: string | null | undefined) {
  if (value === null || value === undefined) return undefined;
  const n = Number(value);
  if (!SEQ.test(value) || !Number.isSafeInteger(n)) {
    throw new FlightdeckError(
      "INVALID_MESSAGE",
      `Bad "${name}" "${
        value.slice(0, 40)
      }": expected an output seq (a whole number from 1)`,
    );
  }
  return n;
}

/**
 * Prepare the recording of command `id` (any kind; a prompt gives its turn
 * in its session's output).
 *
 * @throws {FlightdeckError} INVALID_MESSAGE for an unknown format or a bad
 * range, NOT_FOUND for an unknown command.
 */
export async function openRecording(
  sources: RecordingSources,
  id: string,
  query: RecordingQuery = {},
): Promise<Recording> {
  const format = query.format ?? "cast";
  if (!(RECORDING_FORMATS as readonly string[]).includes(format)) {
    throw new FlightdeckError(
      "INVALID_MESSAGE",
      `Unknown format "${format.slice(0, 40)}": use "cast", "txt" or "raw"`,
    );
  }
  const from = parseSeq("from", query.from);
  const to = parseSeq("to", query.to);
  if (from !== undefined && to !== undefined && from > to) {
    throw new FlightdeckError(
      "INVALID_MESSAGE",
      `Bad range: "from" ${from} is after "to" ${to}`,
    );
  }
  const plan = await makePlan(sources, id, from, to);
  const fmt = format as RecordingFormat;
  const events = readEvents(sources, plan);
  const lines = fmt === "cast"
    ? castLines(plan, events)
    : fmt === "txt"
    ? textLines(events)
    : rawData(events);
  return {
    format: fmt,
    contentType: RECORDING_CONTENT_TYPES[fmt],
    filename: fileName(plan, fmt, from !== undefined || to !== undefined),
    body: ReadableStream.from(lines).pipeThrough(new TextEncoderStream()),
  };
}

async function makePlan(
  sources: RecordingSources,
  id: string,
  from: number | undefined,
  to: number | undefined,
): Promise<Plan> {
  const record = await sources.commands.get(id);
  if (!record) {
    throw new FlightdeckError("NOT_FOUND", `Unknown command "${id}"`);
  }
  let sourceId = record.id;
  let lo = 1;
  let hi = await sources.commands.lastSeq(record.id);
  let startAt: number | null = record.startedAt ?? record.requestedAt;
  if (record.kind === "prompt") {
    startAt = null;
    const turn = record.session;
    if (!turn) {
      // Not typed into its session yet: nothing to record.
      hi = 0;
    } else {
      sourceId = turn.commandId;
      lo = Math.max(1, turn.fromSeq);
      const last = await sources.commands.lastSeq(sourceId);
      hi = turn.toSeq === null ? last : Math.min(turn.toSeq, last);
      const end = turn.toSeq === null ? "running" : String(turn.toSeq);
      for (const [name, seq] of [["from", from], ["to", to]] as const) {
        if (
          seq !== undefined &&
          (seq < lo || (turn.toSeq !== null && seq > turn.toSeq))
        ) {
          throw new FlightdeckError(
            "INVALID_MESSAGE",
            `Bad "${name}" ${seq}: prompt "${id}" covers seqs ${lo}..${end} of its session`,
          );
        }
      }
    }
  }
  if (from !== undefined) {
    lo = Math.max(lo, from);
    startAt = null;
  }
  if (to !== undefined) hi = Math.min(hi, to);
  const source = sourceId === record.id
    ? record
    : await sources.commands.get(sourceId) ?? record;
  const stored = await sources.storage.getCommand(sourceId);
  let size: TerminalSize = stored?.size ?? DEFAULT_SIZE;
  // The size at the start of the range: the last resize before it.
  for await (const resize of sources.storage.readResizes(sourceId)) {
    if (resize.afterSeq >= lo) break;
    size = { cols: resize.cols, rows: resize.rows };
  }
  const agent = sources.agentName(record.agentId) ?? record.agentId;
  return {
    record,
    sourceId,
    fromSeq: lo,
    toSeq: hi,
    startAt,
    fallbackAt: source.startedAt ?? source.requestedAt,
    size,
    title: truncate(`${agent}: ${record.command}`, MAX_TITLE),
  };
}

function truncate(text: string, max: number): string {
  const chars = [...text.replace(/[\r\n\t]+/g, " ")];
  return chars.length <= max
    ? chars.join("")
    : chars.slice(0, max - 1).join("") + "…";
}

function fileName(
  plan: Plan,
  format: RecordingFormat,
  ranged: boolean,
): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 64);
  const range = ranged ? `-seq${plan.fromSeq}-${plan.toSeq}` : "";
  return `${safe(plan.record.agentId)}-${safe(plan.record.id)}${range}.${
    format === "raw" ? "log" : format
  }`;
}

/** One thing in a recording, with its absolute time (ms). */
type Event =
  | { kind: "output"; at: number; stream: Stream; data: string }
  | { kind: "resize"; at: number; cols: number; rows: number }
  | { kind: "gap"; at: number; fromSeq: number; toSeq: number };

/**
 * The range's chunks, resizes and gaps in order, read from storage as they
 * are consumed.
 */
async function* readEvents(
  sources: RecordingSources,
  plan: Plan,
): AsyncGenerator<Event> {
  const { sourceId, fromSeq, toSeq } = plan;
  if (toSeq < fromSeq) return;
  const resizes = sources.storage.readResizes(sourceId);
  try {
    let resize = await nextResize(resizes, fromSeq - 1);
    let at = plan.fallbackAt;
    let expected = fromSeq;
    const gap = (before: number): Event => ({
      kind: "gap",
      at,
      fromSeq: expected,
      toSeq: before - 1,
    });
    const chunks = sources.commands.readOutput(
      sourceId,
      fromSeq - 1,
      toSeq,
      READ_AHEAD,
    );
    for await (const chunk of chunks) {
      const chunkAt = Math.max(at, chunk.at ?? at);
      // Resizes recorded after the output before this chunk, at their time
      // (between the two chunks' times).
      while (resize && resize.afterSeq < chunk.seq) {
        at = Math.min(Math.max(at, resize.at), chunkAt);
        yield { kind: "resize", at, ...size(resize) };
        resize = await nextResize(resizes, -1);
      }
      at = chunkAt;
      if (chunk.seq > expected) yield gap(chunk.seq);
      expected = chunk.seq + 1;
      yield { kind: "output", at, stream: chunk.stream, data: chunk.data };
    }
    if (expected <= toSeq) yield gap(toSeq + 1);
    while (resize && resize.afterSeq <= toSeq) {
      at = Math.max(at, resize.at);
      yield { kind: "resize", at, ...size(resize) };
      resize = await nextResize(resizes, -1);
    }
  } finally {
    // Also when the download stops early.
    await resizes.return(undefined);
  }
}

function size(r: TerminalSize): TerminalSize {
  return { cols: r.cols, rows: r.rows };
}

/** The next resize with `afterSeq > after`, or null. */
async function nextResize(
  resizes: AsyncGenerator<{ afterSeq: number } & TerminalSize & { at: number }>,
  after: number,
) {
  for (;;) {
    const next = await resizes.next();
    if (next.done) return null;
    if (next.value.afterSeq > after) return next.value;
  }
}

function gapLabel(event: { fromSeq: number; toSeq: number }): string {
  return `output trimmed: seq ${event.fromSeq}..${event.toSeq}`;
}

/** The `.cast` file, line by line. */
async function* castLines(
  plan: Plan,
  events: AsyncGenerator<Event>,
): AsyncGenerator<string> {
  const first = await events.next();
  const startAt = plan.startAt ??
    (first.done ? plan.fallbackAt : first.value.at);
  yield JSON.stringify({
    version: 2,
    width: plan.size.cols,
    height: plan.size.rows,
    timestamp: Math.floor(startAt / 1000),
    title: plan.title,
    env: { TERM },
  }) + "\n";
  if (first.done) return;
  let last = 0;
  /** Whether the last pipe output ended with `\r`. */
  let afterCr = false;
  const pipeText = (data: string) => {
    // A bare LF of pipe output becomes CRLF, as the dashboard shows it
    // (xterm's convertEol): a player's terminal would only move down.
    const lf = afterCr && data.startsWith("\n");
    const out = (lf ? "\n" : "") +
      data.slice(lf ? 1 : 0).replace(/(?<!\r)\n/g, "\r\n");
    afterCr = data.endsWith("\r");
    return out;
  };
  const line = (event: Event) => {
    // Seconds with millisecond precision, never before the previous event.
    last = Math.max(last, Math.round(event.at - startAt) / 1000);
    const [code, data] = event.kind === "output"
      ? ["o", event.stream === "pty" ? event.data : pipeText(event.data)]
      : event.kind === "resize"
      ? ["r", `${event.cols}x${event.rows}`]
      : ["m", gapLabel(event)];
    return JSON.stringify([last, code, data]) + "\n";
  };
  yield line(first.value);
  for await (const event of events) yield line(event);
}

/** The plain text, as lines complete (one piece per chunk at most). */
async function* textLines(
  events: AsyncGenerator<Event>,
): AsyncGenerator<string> {
  const text = new PlainText();
  let endsLine = true;
  const note = (piece: string) => {
    if (piece) endsLine = piece.endsWith("\n");
    return piece;
  };
  for await (const event of events) {
    if (event.kind === "output") {
      const piece = note(text.push(event.data));
      if (piece) yield piece;
    } else if (event.kind === "gap") {
      let piece = note(text.end());
      if (!endsLine) piece += "\n";
      piece += `[${gapLabel(event)}]\n`;
      endsLine = true;
      yield piece;
    }
  }
  const rest = text.end();
  if (rest) yield rest;
}

/** The raw output: the stored chunks' data as they are. */
async function* rawData(events: AsyncGenerator<Event>): AsyncGenerator<string> {
  for await (const event of events) {
    if (event.kind === "output") yield event.data;
  }
}
