// deno-lint-ignore-file no-control-regex -- it reads escape sequences and controls
/**
 * The last few lines of a terminal stream as plain text, for the fleet
 * overview's cards (no xterm per card). Cheap and bounded: only the end of a
 * large chunk is read, escape sequences are removed, `\r` overwrites the
 * start of the line as a terminal would, and at most `maxLines` lines of at
 * most `maxLineChars` characters are kept. Cursor moves other than "forward"
 * (shown as spaces) are dropped, so a full-screen program's tail is its text
 * as written, not its screen. Pure; no DOM here.
 * @module
 */

/** One line of a tail; `err` when it came from stderr. */
export interface TailLine {
  text: string;
  err: boolean;
}

/** Of a chunk longer than this, only its last this many characters are read. */
export const MAX_READ_CHARS = 16 * 1024;
/** Longest unfinished escape sequence carried to the next chunk. */
const MAX_CARRY = 256;

const SEQUENCE =
  /\x1b(?:\[([0-?]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[ -/]*[0-~])/g;
/** An escape sequence not finished at the end of the text. */
const UNFINISHED =
  /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*|[PX^_][^\x1b]*|[ -/]*)?$/;
/** Controls other than tab, line feed, carriage return and backspace. */
const CONTROLS = /[\x00-\x07\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]/g;

/** `text` with escape sequences removed (cursor forward as spaces). */
export function stripEscapes(text: string): string {
  return text.replace(SEQUENCE, (_all, params?: string, final?: string) => {
    if (final === "C") {
      const n = Math.min(Number.parseInt(params || "1", 10) || 1, 200);
      return " ".repeat(n);
    }
    return "";
  }).replace(CONTROLS, "");
}

/** A line as a terminal shows it: `\r` returns to its start, `\b` steps back. */
export function overwrite(line: string): string {
  if (!line.includes("\r") && !line.includes("\b")) return line;
  const cells: string[] = [];
  let x = 0;
  for (const ch of line) {
    if (ch === "\r") x = 0;
    else if (ch === "\b") x = Math.max(0, x - 1);
    else cells[x++] = ch;
  }
  return Array.from(cells, (c) => c ?? " ").join("");
}

/** The last lines of one stream (see the module doc). */
export class TextTail {
  readonly maxLines: number;
  readonly maxLineChars: number;
  #lines: TailLine[] = [];
  #partial = "";
  #partialErr = false;
  #carry = "";

  constructor(maxLines = 4, maxLineChars = 240) {
    if (!Number.isInteger(maxLines) || maxLines < 1) {
      throw new RangeError(`Invalid maxLines "${maxLines}"`);
    }
    if (!Number.isInteger(maxLineChars) || maxLineChars < 1) {
      throw new RangeError(`Invalid maxLineChars "${maxLineChars}"`);
    }
    this.maxLines = maxLines;
    this.maxLineChars = maxLineChars;
  }

  /** Add a chunk of the stream; `err` marks the lines it ends as stderr. */
  push(data: string, err = false): void {
    let text = this.#carry + data;
    this.#carry = "";
    if (text.length > MAX_READ_CHARS) {
      // Only the end shows: start at a line start within the window.
      text = text.slice(-MAX_READ_CHARS);
      const nl = text.indexOf("\n");
      text = nl >= 0 ? text.slice(nl + 1) : text;
      this.#lines = [];
      this.#partial = "";
    }
    const unfinished = UNFINISHED.exec(text);
    if (unfinished && unfinished[0].length <= MAX_CARRY) {
      this.#carry = unfinished[0];
      text = text.slice(0, unfinished.index);
    }
    const parts = stripEscapes(text).split("\n");
    for (let i = 0; i < parts.length; i++) {
      // The partial line keeps room for `\r` overwrites, within a bound.
      const joined = this.#partial + parts[i];
      this.#partial = joined.length > 4 * this.maxLineChars
        ? overwrite(joined).slice(0, 4 * this.maxLineChars)
        : joined;
      this.#partialErr = this.#partialErr || (err && parts[i].length > 0);
      if (i < parts.length - 1) {
        this.#lines.push({
          text: overwrite(this.#partial).slice(0, this.maxLineChars)
            .trimEnd(),
          err: this.#partialErr,
        });
        if (this.#lines.length > this.maxLines) this.#lines.shift();
        this.#partial = "";
        this.#partialErr = false;
      }
    }
  }

  /** The last lines, oldest first, the unfinished one last when not blank. */
  lines(): TailLine[] {
    const partial = overwrite(this.#partial).slice(0, this.maxLineChars)
      .trimEnd();
    const all = partial
      ? [...this.#lines, { text: partial, err: this.#partialErr }]
      : [...this.#lines];
    return all.slice(-this.maxLines);
  }

  /** Forget everything (a new command starts). */
  clear(): void {
    this.#lines = [];
    this.#partial = "";
    this.#partialErr = false;
    this.#carry = "";
  }
}

/** The last `maxLines` lines of `data` (see {@link TextTail}). */
export function tailOf(data: string, maxLines = 4): TailLine[] {
  const tail = new TextTail(maxLines);
  tail.push(data);
  return tail.lines();
}
