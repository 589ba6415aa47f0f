/**
 * Terminal output as plain text: escape sequences removed, carriage-return
 * overwrites applied, fed chunk by chunk (a sequence or a line may span
 * chunks).
 *
 * What it does with each part of the output:
 * - Removed: CSI sequences (`ESC [` … final byte, and C1 `U+009B`), OSC
 *   (`ESC ]` or `U+009D`, ended by BEL, `ESC \` or `U+009C`), DCS, SOS, PM and
 *   APC strings (`ESC P`, `ESC X`, `ESC ^`, `ESC _` and their C1 forms, ended
 *   by `ESC \` or `U+009C`), other escapes (`ESC` + intermediates + final:
 *   charset selections such as `ESC ( B`, `ESC 7`, `ESC =`), the other C0 and
 *   C1 controls (BEL, NUL, …) and DEL. CAN and SUB cancel a sequence.
 * - Kept: text, `\n` and `\t`.
 * - Lines are rebuilt as a terminal draws them: `\r` moves to the start of
 *   the line and later text overwrites what is there (`"50%\r100%"` gives
 *   `100%`, `"abcdef\rXY"` gives `XYcdef`; `\r\n` is a plain line end),
 *   backspace moves one character left, and erase in line (`CSI K`, `CSI 1
 *   K`, `CSI 2 K`) clears to the end, to the cursor (as spaces) or the whole
 *   line. Other cursor moves, screen clears and scrolling are removed
 *   without effect, so a full-screen program's text comes out as written,
 *   not as shown: its recording is the `.cast`.
 * - One character is one code point (wide and combining characters are not
 *   measured). A line longer than {@link MAX_LINE_CHARS} without a line end
 *   is written out as it is and continues as a new line buffer (no newline is
 *   added), so memory stays bounded.
 *
 * @example
 * ```ts
 * const text = new PlainText();
 * text.push("\x1b[32mok\x1b[0m 50%\r") + text.push("100%\r\n") + text.end();
 * // "100%\n"
 * ```
 *
 * @module
 */

/** Longest line buffer in code points before it is written out as is. */
export const MAX_LINE_CHARS = 64 * 1024;
/**
 * A run of text without controls (C0, DEL, C1) or surrogates (so its length
 * is its code points).
 */
// deno-lint-ignore no-control-regex -- it matches everything but controls
const PLAIN_RUN = /[^\x00-\x1f\x7f-\x9f\ud800-\udfff]+/y;
/** A whole `ESC [` sequence: parameters (group 1) and final byte (group 2). */
// deno-lint-ignore no-control-regex -- it starts at ESC
const WHOLE_CSI = /\x1b\[([0-?]{0,32})[ -/]*([@-~])/y;
/** Longest CSI parameter text kept (longer ones are not erase-in-line). */
const MAX_PARAMS = 32;

const ESC = 0x1b;
const BEL = 0x07;
const BS = 0x08;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const CAN = 0x18;
const SUB = 0x1a;
const DEL = 0x7f;

type State =
  | "text"
  | "esc"
  | "escIntermediate"
  | "csi"
  | "osc"
  | "oscEsc"
  | "string"
  | "stringEsc";

/** A streaming converter of terminal output to plain text. */
export class PlainText {
  #state: State = "text";
  #params = "";
  /**
   * The current line: `#line` (one code point per element) then `#tail`
   * (text appended at the end, kept as one string until something needs
   * positions in it: most lines never do).
   */
  #line: string[] = [];
  #tail = "";
  /** Code points in `#tail` (it holds no surrogate pairs). */
  #tailChars = 0;
  #cursor = 0;

  /** Feed `data`; returns the text of the lines it completed. */
  push(data: string): string {
    let out = "";
    for (let i = 0; i < data.length;) {
      if (this.#state === "text" && this.#cursor === this.#length) {
        // Fast path: a run of plain text appended at the end of the line.
        PLAIN_RUN.lastIndex = i;
        const run = PLAIN_RUN.exec(data)?.[0];
        if (run && this.#cursor + run.length < MAX_LINE_CHARS) {
          this.#tail += run;
          this.#tailChars += run.length;
          this.#cursor += run.length;
          i += run.length;
          continue;
        }
      }
      if (this.#state === "text" && data.charCodeAt(i) === ESC) {
        // Fast path: a whole CSI sequence (colors, mostly) in this chunk.
        WHOLE_CSI.lastIndex = i;
        const csi = WHOLE_CSI.exec(data);
        if (csi) {
          if (csi[2] === "K") this.#eraseInLine(csi[1]);
          i += csi[0].length;
          continue;
        }
      }
      const code = data.codePointAt(i)!;
      const ch = code > 0xffff ? data.slice(i, i + 2) : data[i];
      i += ch.length;
      switch (this.#state) {
        case "text":
          out += this.#text(ch, code);
          break;
        case "esc":
          // C0 controls act inside a sequence (VT parsers do the same).
          if (code < 0x20 && code !== ESC) out += this.#control(code);
          else this.#escape(code);
          break;
        case "escIntermediate":
          if (code >= 0x20 && code <= 0x2f) break;
          if (code < 0x20) out += this.#control(code);
          else this.#state = "text";
          break;
        case "csi":
          if (code >= 0x40 && code <= 0x7e) {
            if (ch === "K") this.#eraseInLine(this.#params);
            this.#state = "text";
          } else if (code >= 0x20 && code <= 0x3f) {
            if (this.#params.length < MAX_PARAMS) this.#params += ch;
          } else if (code < 0x20) {
            // C0 controls act inside a sequence (VT parsers do the same).
            out += this.#control(code);
          } else {
            this.#state = "text"; // Not a CSI byte: drop the sequence.
          }
          break;
        case "osc":
          if (code === BEL || code === 0x9c) this.#state = "text";
          else if (code === ESC) this.#state = "oscEsc";
          else if (code === CAN || code === SUB) this.#state = "text";
          break;
        case "oscEsc":
          // ESC \ ends the string; any other ESC starts a new sequence.
          if (code === 0x5c) this.#state = "text";
          else this.#escape(code);
          break;
        case "string":
          if (code === 0x9c || code === CAN || code === SUB) {
            this.#state = "text";
          } else if (code === ESC) this.#state = "stringEsc";
          break;
        case "stringEsc":
          if (code === 0x5c) this.#state = "text";
          else this.#escape(code);
          break;
      }
    }
    return out;
  }

  /** The rest of the last line (no newline is added). */
  end(): string {
    const out = this.#take();
    this.#state = "text";
    return out;
  }

  get #length(): number {
    return this.#line.length + this.#tailChars;
  }

  /** The current line's text; the line is empty after. */
  #take(): string {
    const out = this.#line.join("") + this.#tail;
    this.#line = [];
    this.#tail = "";
    this.#tailChars = 0;
    this.#cursor = 0;
    return out;
  }

  /** Split `#tail` into `#line`, before anything that needs positions. */
  #materialize(): void {
    if (!this.#tail) return;
    for (const ch of this.#tail) this.#line.push(ch);
    this.#tail = "";
    this.#tailChars = 0;
  }

  #text(ch: string, code: number): string {
    if (code === ESC) {
      this.#state = "esc";
      return "";
    }
    if (code < 0x20) return this.#control(code);
    if (code === DEL) return "";
    if (code >= 0x80 && code <= 0x9f) {
      this.#c1(code);
      return "";
    }
    return this.#put(ch);
  }

  /** The byte after ESC. */
  #escape(code: number): void {
    if (code === 0x5b) this.#startCsi();
    else if (code === 0x5d) this.#state = "osc";
    else if (code === 0x50 || code === 0x58 || code === 0x5e || code === 0x5f) {
      this.#state = "string";
    } else if (code >= 0x20 && code <= 0x2f) this.#state = "escIntermediate";
    else if (code === ESC) this.#state = "esc";
    else this.#state = "text"; // A two-byte escape (ESC 7, ESC =, …) or junk.
  }

  #c1(code: number): void {
    if (code === 0x9b) this.#startCsi();
    else if (code === 0x9d) this.#state = "osc";
    else if (code === 0x90 || code === 0x98 || code === 0x9e || code === 0x9f) {
      this.#state = "string";
    }
  }

  #startCsi(): void {
    this.#state = "csi";
    this.#params = "";
  }

  /** A C0 control; returns the completed line for a line feed. */
  #control(code: number): string {
    switch (code) {
      case LF:
        return this.#take() + "\n";
      case CR:
        this.#cursor = 0;
        return "";
      case BS:
        if (this.#cursor > 0) this.#cursor--;
        return "";
      case TAB:
        return this.#put("\t");
      case CAN:
      case SUB:
        this.#state = "text";
        return "";
      case ESC:
        this.#state = "esc";
        return "";
      default:
        return ""; // BEL, NUL and the rest draw nothing.
    }
  }

  /** Write one character at the cursor. */
  #put(ch: string): string {
    let out = "";
    if (this.#cursor >= MAX_LINE_CHARS) out = this.#take();
    this.#materialize();
    // After an erase the cursor may stand past the end: blanks fill the gap.
    while (this.#line.length < this.#cursor) this.#line.push(" ");
    if (this.#cursor < this.#line.length) this.#line[this.#cursor] = ch;
    else this.#line.push(ch);
    this.#cursor++;
    return out;
  }

  #eraseInLine(params: string): void {
    this.#materialize();
    const mode = params === "" ? 0 : Number(params);
    if (mode === 0) {
      this.#line.length = Math.min(this.#line.length, this.#cursor);
    } else if (mode === 1) {
      const end = Math.min(this.#cursor + 1, this.#line.length);
      for (let i = 0; i < end; i++) this.#line[i] = " ";
    } else if (mode === 2) {
      this.#line = [];
    }
  }
}

/** `data` as plain text, all at once (see {@link PlainText}). */
export function plainText(data: string): string {
  const text = new PlainText();
  return text.push(data) + text.end();
}
