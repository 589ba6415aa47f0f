/**
 * A headless terminal (`@xterm/headless`) fed with a session's output, so the
 * agent can ask "what does the program show now?" (its last lines, the cursor
 * line) and hand late joiners a snapshot that redraws the current screen.
 *
 * @example
 * ```ts
 * const screen = new Screen(80, 24);
 * await screen.write("\x1b[32m$ \x1b[0m", 1);
 * screen.cursorLine(); // "$"
 * screen.snapshot(); // { seq: 1, cols: 80, rows: 24, data: "..." }
 * ```
 *
 * @module
 */
import xtermHeadless from "@xterm/headless";
import serializeAddon from "@xterm/addon-serialize";

const { Terminal } = xtermHeadless;
const { SerializeAddon } = serializeAddon;
type XTerminal = InstanceType<typeof Terminal>;
type XSerializeAddon = InstanceType<typeof SerializeAddon>;

/** Largest accepted grid, in both directions (what the PTY layer accepts). */
export const MAX_SCREEN_SIZE = 1000;

/** Options of {@link Screen}. */
export interface ScreenOptions {
  /** Lines kept above the visible screen (default 1000). */
  scrollback?: number;
}

/** What a late joiner needs to draw the current screen. */
export interface ScreenSnapshot {
  /** Highest `seq` written into the screen so far (0 when none was given). */
  seq: number;
  /** Grid width the `data` was serialized at. */
  cols: number;
  /** Grid height the `data` was serialized at. */
  rows: number;
  /**
   * Escape sequences that reproduce the buffer (scrollback, visible screen,
   * cursor position, alternate screen when active) when written into a fresh
   * terminal of `cols` x `rows`.
   */
  data: string;
}

function checkSize(cols: number, rows: number): void {
  for (const [name, value] of [["cols", cols], ["rows", rows]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_SCREEN_SIZE) {
      throw new RangeError(
        `Screen ${name} must be an integer from 1 to ${MAX_SCREEN_SIZE}, got "${value}"`,
      );
    }
  }
}

/** A headless terminal of one session's output. */
export class Screen {
  #term: XTerminal;
  #serializer: XSerializeAddon;
  #seq = 0;
  #disposed = false;

  /**
   * @param cols Grid width, 1..{@link MAX_SCREEN_SIZE}.
   * @param rows Grid height, 1..{@link MAX_SCREEN_SIZE}.
   * @throws {RangeError} For a size out of range or a negative scrollback.
   */
  constructor(cols: number, rows: number, options: ScreenOptions = {}) {
    checkSize(cols, rows);
    const scrollback = options.scrollback ?? 1000;
    if (!Number.isInteger(scrollback) || scrollback < 0) {
      throw new RangeError(
        `Screen scrollback must be a non-negative integer, got "${scrollback}"`,
      );
    }
    this.#term = new Terminal({
      cols,
      rows,
      scrollback,
      allowProposedApi: true,
    });
    this.#serializer = new SerializeAddon();
    this.#term.loadAddon(this.#serializer);
    // xterm.js does not answer foreground/background color queries (OSC 10
    // and 11); Codex CLI waits for them, so answer as a light-on-dark terminal.
    for (
      const [ident, rgb] of [[10, "ffff/ffff/ffff"], [11, "0000/0000/0000"]]
    ) {
      this.#term.parser.registerOscHandler(Number(ident), (data) => {
        if (data !== "?") return false;
        this.#term.input(`\x1b]${ident};rgb:${rgb}\x1b\\`, false);
        return true;
      });
    }
  }

  /** Highest `seq` written so far (0 before any write with a seq). */
  get seq(): number {
    return this.#seq;
  }

  /** Current grid width. */
  get cols(): number {
    return this.#term.cols;
  }

  /** Current grid height. */
  get rows(): number {
    return this.#term.rows;
  }

  /** Whether the program switched to the alternate screen (full-screen UI). */
  get altScreen(): boolean {
    return this.#term.buffer.active.type === "alternate";
  }

  /**
   * Apply output to the terminal. Resolves once xterm has parsed it, so
   * {@link lines} and {@link snapshot} then include it. Writes are parsed in
   * call order; `seq` raises the snapshot's seq (it never goes down).
   */
  write(data: string | Uint8Array, seq?: number): Promise<void> {
    if (this.#disposed) return Promise.resolve();
    if (seq !== undefined && seq > this.#seq) this.#seq = seq;
    return new Promise((resolve) => this.#term.write(data, resolve));
  }

  /**
   * Change the grid size (what the PTY was resized to).
   * @throws {RangeError} For a size out of range.
   */
  resize(cols: number, rows: number): void {
    checkSize(cols, rows);
    if (cols === this.#term.cols && rows === this.#term.rows) return;
    this.#term.resize(cols, rows);
  }

  /** Text of every visible row, top to bottom, trimmed right. */
  visibleLines(): string[] {
    const buffer = this.#term.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < this.#term.rows; y++) {
      const line = buffer.getLine(buffer.viewportY + y);
      out.push(line ? line.translateToString(true).trimEnd() : "");
    }
    return out;
  }

  /** Text of every buffer row, scrollback first, trimmed right. */
  allLines(): string[] {
    const buffer = this.#term.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < buffer.length; y++) {
      out.push(buffer.getLine(y)?.translateToString(true).trimEnd() ?? "");
    }
    return out;
  }

  /**
   * The last `n` non-empty visible rows as plain text, trimmed right, top to
   * bottom. Rows below the cursor that are blank are skipped like any other.
   */
  lines(n: number): string[] {
    if (n <= 0) return [];
    return this.visibleLines().filter((line) => line !== "").slice(-n);
  }

  /** Text of the row the cursor is on, trimmed right. */
  cursorLine(): string {
    const buffer = this.#term.buffer.active;
    const line = buffer.getLine(buffer.baseY + buffer.cursorY);
    return line ? line.translateToString(true).trimEnd() : "";
  }

  /** Cursor position within the visible screen (0-based). */
  cursor(): { x: number; y: number } {
    const buffer = this.#term.buffer.active;
    return { x: buffer.cursorX, y: buffer.cursorY };
  }

  /**
   * Escape sequences that redraw the current buffer in a fresh terminal,
   * with at most `scrollback` lines above the screen (default: all kept).
   */
  snapshot(options: { scrollback?: number } = {}): ScreenSnapshot {
    return {
      seq: this.#seq,
      cols: this.#term.cols,
      rows: this.#term.rows,
      data: this.#serializer.serialize(
        options.scrollback === undefined
          ? undefined
          : { scrollback: options.scrollback },
      ),
    };
  }

  /**
   * Listen for the terminal's replies to the program's queries (cursor
   * position, device attributes, colors): a program such as Codex CLI waits
   * for them before drawing, so a session with no real terminal attached
   * writes them back into the PTY.
   * @returns A function that stops listening.
   */
  onReply(listener: (data: string) => void): () => void {
    const sub = this.#term.onData(listener);
    return () => sub.dispose();
  }

  /** Free the terminal; later writes are ignored. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#term.dispose();
  }
}
