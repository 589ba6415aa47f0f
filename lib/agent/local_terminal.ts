/**
 * The local terminal in the loop: when `deno task agent --session` runs with
 * a TTY on stdin and stdout, the session shows there too, like `tmux attach`
 * from a second place, while dashboards watch and type into the same PTY.
 *
 * - Output: every byte the session's program writes is written to stdout
 *   as it is.
 * - Keys: stdin is put in raw mode (no echo, no line editing, no signals
 *   from keys), and every key goes to the program unchanged: Ctrl-C is the
 *   program's (an AI CLI's interrupt), Ctrl-Z too. Only {@link DETACH_KEY},
 *   Ctrl-], is the wrapper's: it quits the agent (the session is
 *   interrupted, the connection closed with 1000), as in telnet and like the
 *   dashboard's Ctrl+] that leaves a controlled terminal.
 * - Sizes: the PTY starts at the local terminal's size, and each local
 *   resize (SIGWINCH) resizes it again. A browser controller's
 *   `terminal:resize` resizes it too: the most recent resize wins (tmux's
 *   `window-size latest`). Neither side reacts to the other's resize, so they
 *   cannot fight in a loop; until the local window is resized again, a
 *   program drawing for the browser's size may wrap or leave space locally.
 * - Restoring: {@link LocalTerminal.restore} leaves raw mode and resets the
 *   modes a program may have left on (alternate screen, hidden cursor, mouse
 *   and bracketed paste reporting, application keys); the agent calls it on
 *   every exit path, errors included.
 *
 * Log lines never go to this screen: the agent writes them to a log file
 * while the session is shown (see `agent.ts`).
 *
 * @module
 */

/** The key that quits the agent from the local terminal: Ctrl-] (GS, 0x1d). */
export const DETACH_KEY = "\x1d";

/**
 * Sent on restore: leave the alternate screen, show the cursor, reset colors,
 * turn off bracketed paste, mouse and focus reporting, application cursor
 * keys and keypad, and pop the kitty keyboard mode a program may have pushed.
 * A terminal ignores the ones that are not on.
 */
export const RESTORE_SEQUENCE = "\x1b[?1049l\x1b[?25h\x1b[0m\x1b[?2004l" +
  "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l\x1b[?1l\x1b>\x1b[<u";

/** What the local terminal needs of the process (the real one: {@link denoTerminalIo}). */
export interface LocalTerminalIo {
  /** Key bytes typed into the terminal. */
  readable: ReadableStream<Uint8Array>;
  /** Raw mode on (keys as typed, no echo, no signals) or off. */
  setRaw(raw: boolean): void;
  /** Write to the terminal (all of `bytes`, in order). */
  write(bytes: Uint8Array): void;
  /** The terminal's size now, or null when it cannot be read. */
  size(): { cols: number; rows: number } | null;
  /** Call `listener` when the terminal is resized; returns the unsubscribe. */
  onResize(listener: () => void): () => void;
}

/** Whether stdin and stdout are both a terminal (then the session shows here). */
export function hasTerminal(): boolean {
  return Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
}

/** This process's stdin and stdout terminal, resizes by SIGWINCH. */
export function denoTerminalIo(): LocalTerminalIo {
  return {
    readable: Deno.stdin.readable,
    setRaw: (raw) => Deno.stdin.setRaw(raw),
    write: (bytes) => {
      let offset = 0;
      while (offset < bytes.length) {
        offset += Deno.stdout.writeSync(bytes.subarray(offset));
      }
    },
    size: () => {
      try {
        const { columns, rows } = Deno.consoleSize();
        return columns > 0 && rows > 0 ? { cols: columns, rows } : null;
      } catch {
        return null;
      }
    },
    onResize: (listener) => {
      Deno.addSignalListener("SIGWINCH", listener);
      return () => Deno.removeSignalListener("SIGWINCH", listener);
    },
  };
}

/** Options of {@link LocalTerminal}. */
export interface LocalTerminalOptions {
  /** Keys typed locally, decoded (UTF-8 split over reads is joined). */
  onInput: (data: string) => void;
  /** The local terminal was resized to a size it did not have. */
  onResize: (cols: number, rows: number) => void;
  /** {@link DETACH_KEY} was pressed, or stdin ended: quit the agent. */
  onDetach: () => void;
}

/** The session shown in, and typed into from, the terminal the agent runs in. */
export class LocalTerminal {
  #io: LocalTerminalIo;
  #o: LocalTerminalOptions;
  #encoder = new TextEncoder();
  #started = false;
  #restored = false;
  #detached = false;
  #unsubscribe: (() => void) | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #size: { cols: number; rows: number } | null = null;

  constructor(io: LocalTerminalIo, options: LocalTerminalOptions) {
    this.#io = io;
    this.#o = options;
  }

  /** The terminal's size now (null when it cannot be read). */
  size(): { cols: number; rows: number } | null {
    return this.#io.size();
  }

  /** Enter raw mode, read keys, follow resizes. Call once. */
  start(): void {
    if (this.#started || this.#restored) return;
    this.#started = true;
    this.#size = this.#io.size();
    this.#io.setRaw(true);
    this.#unsubscribe = this.#io.onResize(() => this.#resized());
    void this.#read();
  }

  /** Session output: written to the terminal as the program produced it. */
  write(text: string): void {
    if (this.#restored) return;
    this.#io.write(this.#encoder.encode(text));
  }

  /**
   * A line from the wrapper itself (the session ended, restarts), on a line
   * of its own: `[flightdeck-agent: <text>]`.
   */
  notice(text: string): void {
    this.write(`\r\n\x1b[0m[flightdeck-agent: ${text}]\r\n`);
  }

  /**
   * Leave raw mode and reset the modes the program may have left on; stop
   * reading keys and following resizes. Safe to call more than once.
   */
  restore(): void {
    if (this.#restored) return;
    this.#restored = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (!this.#started) return;
    try {
      this.#io.write(this.#encoder.encode(RESTORE_SEQUENCE + "\r\n"));
    } catch {
      // The terminal is gone: nothing to restore on it.
    }
    try {
      this.#io.setRaw(false);
    } catch {
      // Likewise.
    }
    this.#reader?.cancel().catch(() => {});
  }

  #resized(): void {
    const size = this.#io.size();
    if (!size) return;
    if (size.cols === this.#size?.cols && size.rows === this.#size?.rows) {
      return;
    }
    this.#size = size;
    this.#o.onResize(size.cols, size.rows);
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    const reader = this.#io.readable.getReader();
    this.#reader = reader;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.#restored) break;
        const text = decoder.decode(value, { stream: true });
        const at = text.indexOf(DETACH_KEY);
        const keys = at < 0 ? text : text.slice(0, at);
        if (keys) this.#o.onInput(keys);
        if (at >= 0) return this.#detach();
      }
    } catch {
      // stdin failed: the same as its end.
    } finally {
      reader.releaseLock();
    }
    // stdin ended (the terminal closed): nobody is at this terminal.
    if (!this.#restored) this.#detach();
  }

  #detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#o.onDetach();
  }
}
