/**
 * The log page's data: blocks of lines fetched by line number from
 * `GET /api/commands/:id/lines` (docs/protocol.md "Command logs") and kept
 * in a bounded cache, search pages from `GET /api/commands/:id/search`, and
 * the `#L12` / `#L12-L20` line links.
 *
 * @module
 */

import { renderAnsiLine, sgrFromParams, type SgrState } from "./ansi_line.ts";

/** Lines per fetched block. */
export const BLOCK_LINES = 200;
/** Blocks kept in memory (the oldest used is dropped first). */
export const MAX_BLOCKS = 60;

/** One line as the server sends it: text null where it is not stored. */
export interface LogLine {
  n: number;
  text: string | null;
  cut?: number;
  /** Some of its text came from stderr. */
  err?: boolean;
}

/** Output seqs never received, before line `beforeLine`. */
export interface LogGap {
  beforeLine: number;
  fromSeq: number;
  toSeq: number;
}

/** A response of the lines endpoint. */
export interface LinesResponse {
  id: string;
  sourceId: string;
  firstLine: number;
  lastLine: number;
  removed: { fromSeq: number; toSeq: number } | null;
  lines: LogLine[];
  gaps: LogGap[];
  /** SGR parameters in effect at the first line's start ("" the default). */
  sgr?: string;
  /** Whether `sgr` was computed from all the output it depends on. */
  sgrExact?: boolean;
}

const STYLES = new WeakMap<LinesResponse, SgrState[]>();

/**
 * The style at the start of each line of `block` (by index), from the
 * block's `sgr` carried through its lines in order; computed once per
 * block. Render line `i` from a copy of entry `i`.
 */
export function lineStartStyles(block: LinesResponse): readonly SgrState[] {
  let styles = STYLES.get(block);
  if (!styles) {
    styles = [];
    const state = sgrFromParams(block.sgr ?? "");
    for (const line of block.lines) {
      styles.push({ ...state });
      if (line.text !== null) renderAnsiLine(line.text, state);
    }
    STYLES.set(block, styles);
  }
  return styles;
}

/** A search hit: a 1-based line and the start of its plain text. */
export interface LogHit {
  line: number;
  text: string;
}

/** A response of the search endpoint. */
export interface SearchResponse {
  hits: LogHit[];
  next: number | null;
}

/** A selected line range from a `#L12` or `#L12-L20` hash, or null. */
export function parseLineHash(
  hash: string,
): { from: number; to: number } | null {
  const m = /^#L([1-9][0-9]{0,15})(?:-L([1-9][0-9]{0,15}))?$/.exec(hash);
  if (!m) return null;
  const a = Number(m[1]);
  const b = m[2] ? Number(m[2]) : a;
  return { from: Math.min(a, b), to: Math.max(a, b) };
}

/** The hash of a line range. */
export function lineHash(from: number, to = from): string {
  return from === to ? `#L${from}` : `#L${from}-L${to}`;
}

/** The address of a command's log page, optionally at a line. */
export function logPageUrl(
  agentId: string,
  commandId: string,
  line?: number,
): string {
  return `/agents/${encodeURIComponent(agentId)}/commands/${
    encodeURIComponent(commandId)
  }${line ? `#L${line}` : ""}`;
}

/** Fetches and caches blocks of a command's lines. */
export class LogWindow {
  readonly commandId: string;
  readonly #blocks = new Map<number, LinesResponse>();
  readonly #pending = new Map<number, Promise<LinesResponse>>();
  readonly #fetch: typeof fetch;

  constructor(
    commandId: string,
    // A wrapper: `window.fetch` called as a method of another object throws.
    fetcher: typeof fetch = (input, init) => fetch(input, init),
  ) {
    this.commandId = commandId;
    this.#fetch = fetcher;
  }

  /** Keep `response` (a block's lines) as if fetched. */
  seed(block: number, response: LinesResponse): void {
    this.#blocks.set(block, response);
  }

  /** The block of line `n` (1-based). */
  static blockOf(n: number): number {
    return Math.floor((n - 1) / BLOCK_LINES);
  }

  /** Block `block` if cached (and marks it recently used). */
  cached(block: number): LinesResponse | undefined {
    const hit = this.#blocks.get(block);
    if (hit) {
      this.#blocks.delete(block);
      this.#blocks.set(block, hit);
    }
    return hit;
  }

  /** Forget block `block` (it grew: the log is still being written). */
  invalidate(block: number): void {
    this.#blocks.delete(block);
  }

  /** Fetch block `block` once (concurrent calls share the request). */
  load(block: number): Promise<LinesResponse> {
    const hit = this.cached(block);
    if (hit) return Promise.resolve(hit);
    let pending = this.#pending.get(block);
    if (!pending) {
      pending = this.lines(block * BLOCK_LINES + 1, BLOCK_LINES).then((r) => {
        this.#blocks.set(block, r);
        while (this.#blocks.size > MAX_BLOCKS) {
          this.#blocks.delete(this.#blocks.keys().next().value!);
        }
        return r;
      }).finally(() => this.#pending.delete(block));
      this.#pending.set(block, pending);
    }
    return pending;
  }

  /** Fetch `count` lines from line `from`. */
  async lines(from: number, count: number): Promise<LinesResponse> {
    const res = await this.#fetch(
      `/api/commands/${
        encodeURIComponent(this.commandId)
      }/lines?from=${from}&count=${count}`,
      { headers: { accept: "application/json" } },
    );
    if (!res.ok) throw new Error(await errorText(res));
    return await res.json();
  }

  /** One page of search hits from line `from`. */
  async search(q: string, from: number): Promise<SearchResponse> {
    const res = await this.#fetch(
      `/api/commands/${encodeURIComponent(this.commandId)}/search?q=${
        encodeURIComponent(q)
      }&from=${from}&limit=200`,
      { headers: { accept: "application/json" } },
    );
    if (!res.ok) throw new Error(await errorText(res));
    return await res.json();
  }
}

async function errorText(res: Response): Promise<string> {
  try {
    const body = await res.json();
    return String(body?.error?.message ?? res.statusText);
  } catch {
    return `${res.status} ${res.statusText}`;
  }
}
