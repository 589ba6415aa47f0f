/**
 * The body of a log window (`GET /api/commands/:id/lines`, and the log
 * page's first block): lines with their stderr mark, gaps, and the style in
 * effect at the first line's start (`sgr`, computed from the output before
 * it, see {@link textBefore}). The SGR model is the log page's own
 * (`lib/client/ansi_line.ts`, pure, no DOM), so server and page agree.
 *
 * @module
 */
import { defaultSgr, sgrAfter, sgrParams } from "../client/ansi_line.ts";
import type { CommandLog } from "./command_log.ts";
import { readWindow, textBefore } from "./log_reader.ts";
import type { OutputBackend } from "./output_log.ts";

/** One line of a window as sent. */
export interface WindowLine {
  /** 1-based. */
  n: number;
  text: string | null;
  cut?: number;
  /** Some of its text came from stderr. */
  err?: true;
}

/** A window as sent (docs/protocol.md "Command logs"). */
export interface WindowBody {
  id: string;
  sourceId: string;
  firstLine: number;
  lastLine: number;
  removed: { fromSeq: number; toSeq: number } | null;
  lines: WindowLine[];
  gaps: { beforeLine: number; fromSeq: number; toSeq: number }[];
  /** SGR parameters in effect at the first line's start ("" the default). */
  sgr: string;
  /**
   * False when the output before the window was read only in part
   * ({@link textBefore}: no reset within its bound), so `sgr` may miss an
   * older color.
   */
  sgrExact: boolean;
}

/** `count` lines of `log` from 0-based line `from`, as sent. */
export async function windowBody(
  storage: OutputBackend,
  log: CommandLog,
  from: number,
  count: number,
): Promise<WindowBody> {
  const window = await readWindow(
    storage,
    log.sourceId,
    from,
    count,
    log.bounds,
  );
  const start = window.lines[0]?.line;
  const before = start === undefined
    ? null
    : await textBefore(storage, log.sourceId, start);
  return {
    id: log.record.id,
    sourceId: log.sourceId,
    firstLine: log.bounds.start + 1,
    lastLine: log.bounds.end,
    removed: log.removed,
    lines: window.lines.map((l) => ({
      n: l.line + 1,
      text: l.text,
      ...(l.cut ? { cut: l.cut } : {}),
      ...(l.err ? { err: true as const } : {}),
    })),
    gaps: window.gaps.map((g) => ({
      beforeLine: g.line + 1,
      fromSeq: g.fromSeq,
      toSeq: g.toSeq,
    })),
    sgr: before ? sgrParams(sgrAfter(before.text, defaultSgr())) : "",
    sgrExact: before?.complete ?? true,
  };
}
