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
 * - Never in the way: output is written asynchronously, one write at a time,
 *   so a terminal that stops reading (a stalled ssh, a paused tmux pane)
 *   never blocks the agent (its heartbeats, the session's stream to the
 *   server). While a write is pending, later output waits in a queue of at
 *   most {@link MAX_LOCAL_BEHIND_BYTES}; past it the local copy of what is
 *   queued is dropped (the session's stream never is) and, once the terminal
 *   takes output again, a notice says how much this terminal did not show.
 * - Losing the terminal: a failed write (EIO: the terminal closed), the end
 *   or failure of stdin, or SIGHUP (the terminal hung up) detach the local
 *   side: nothing more is written or read there, and the agent goes on
 *   headless (the session keeps running for the dashboards) and logs it.
 *   Only {@link DETACH_KEY} quits.
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

/**
 * Most bytes of output queued for a terminal that has not finished the write
 * before (1 MiB); past it the queued local copy is dropped.
 */
export const MAX_LOCAL_BEHIND_BYTES = 1024 * 1024;

/** Longest wait of {@link LocalTerminal.restore} for pending writes (ms). */
export const RESTORE_WAIT_MS = 1000;

/** What the local terminal needs of the process (the real one: {@link denoTerminalIo}). */
export interface LocalTerminalIo {
  /** Key bytes typed into the terminal. */
  readable: ReadableStream<Uint8Array>;
  /** Raw mode on (keys as typed, no echo, no signals) or off. */
  setRaw(raw: boolean): void;
  /**
   * Write all of `bytes` to the terminal, in order: at once, or by the
   * returned promise (never called again before it settled). Throws or
   * rejects when the terminal is gone.
   */
  write(bytes: Uint8Array): void | Promise<void>;
  /** The terminal's size now, or null when it cannot be read. */
  size(): { cols: number; rows: number } | null;
  /** Call `listener` when the terminal is resized; returns the unsubscribe. */
  onResize(listener: () => void): () => void;
  /**
   * Call `listener` when the terminal hangs up (SIGHUP; listening replaces
   * the default of ending the process); returns the unsubscribe.
   */
  onHangup?(listener: () => void): () => void;
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
    // Asynchronous: a terminal that stops reading never blocks the agent.
    write: async (bytes) => {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await Deno.stdout.write(bytes.subarray(offset));
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
    onHangup: (listener) => {
      Deno.addSignalListener("SIGHUP", listener);
      return () => Deno.removeSignalListener("SIGHUP", listener);
    },
  };
}

/** Options of {@link LocalTerminal}. */
export interface LocalTerminalOptions {
  /** Keys typed locally, decoded (UTF-8 split over reads is joined). */
  onInput: (data: string) => void;
  /** The local terminal was resized to a size it did not have. */
  onResize: (cols: number, rows: number) => void;
  /** {@link DETACH_KEY} was pressed: quit the agent. */
  onDetach: () => void;
  /**
   * The terminal is gone (`why`: a write failed, stdin ended or failed,
   * SIGHUP): nothing more is shown or read here; the agent goes on headless.
   * Called once.
   */
  onLost?: (why: string) => void;
  /** Output was dropped for this terminal only (it fell `bytes` behind). */
  onDropped?: (bytes: number) => void;
}

/** The session shown in, and typed into from, the terminal the agent runs in. */
export class LocalTerminal {
  #io: LocalTerminalIo;
  #o: LocalTerminalOptions;
  #encoder = new TextEncoder();
  #started = false;
  #restored = false;
  #detached = false;
  #lost = false;
  /** A write is pending (the io returned a promise not settled yet). */
  #writing: Promise<void> | undefined;
  /** Output waiting for the pending write, and its size. */
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** Output dropped since the terminal last took output (bytes). */
  #dropped = 0;
  #unsubscribe: (() => void) | undefined;
  #unhangup: (() => void) | undefined;
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
    this.#unhangup = this.#io.onHangup?.(() => this.#lose("SIGHUP"));
    void this.#read();
  }

  /** Whether the terminal is gone (see {@link LocalTerminalOptions.onLost}). */
  get lost(): boolean {
    return this.#lost;
  }

  /** Bytes of output waiting for the terminal to take them. */
  get behindBytes(): number {
    return this.#queued;
  }

  /**
   * Session output: written to the terminal as the program produced it,
   * without waiting (see the module's "Never in the way").
   */
  write(text: string): void {
    if (this.#restored || this.#lost) return;
    this.#output(this.#encoder.encode(text));
  }

  #output(bytes: Uint8Array): void {
    if (!this.#writing) return this.#send(bytes);
    if (this.#queued + bytes.length > MAX_LOCAL_BEHIND_BYTES) {
      // Behind by too much: drop the local copy of what waits (the newest
      // output queues again and shows after the notice).
      const dropped = this.#queued + bytes.length;
      this.#dropped += dropped;
      this.#queue = [];
      this.#queued = 0;
      this.#o.onDropped?.(dropped);
      return;
    }
    this.#queue.push(bytes);
    this.#queued += bytes.length;
  }

  /** Start writing `bytes` (nothing pending); a failure loses the terminal. */
  #send(bytes: Uint8Array): void {
    let pending: void | Promise<void>;
    try {
      pending = this.#io.write(bytes);
    } catch (error) {
      return this.#lose(`writing failed: ${error}`);
    }
    if (!(pending instanceof Promise)) return;
    const writing = pending.then(
      () => {
        if (this.#writing !== writing) return;
        this.#writing = undefined;
        this.#next();
      },
      (error) => {
        if (this.#writing !== writing) return;
        this.#writing = undefined;
        this.#lose(`writing failed: ${error}`);
      },
    );
    this.#writing = writing;
  }

  /** The pending write is done: write what waited, after a drop notice. */
  #next(): void {
    if (this.#lost) return;
    const parts = this.#queue;
    if (this.#dropped > 0) {
      parts.unshift(this.#encoder.encode(
        `\r\n\x1b[0m[flightdeck-agent: this terminal fell behind: ` +
          `${this.#dropped} bytes of session output were not shown here ` +
          `(the session and the dashboards have all of it)]\r\n`,
      ));
      this.#dropped = 0;
    }
    this.#queue = [];
    this.#queued = 0;
    if (parts.length === 0) return;
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.length;
    }
    this.#send(joined);
  }

  /**
   * The terminal is gone: stop writing, reading keys and following resizes,
   * leave raw mode if it still can, and tell the agent (once). SIGHUP stays
   * ignored until {@link restore}.
   */
  #lose(why: string): void {
    if (this.#lost || this.#restored) return;
    this.#lost = true;
    this.#queue = [];
    this.#queued = 0;
    this.#writing = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    // The SIGHUP listener stays: the hangup that follows a failed write or
    // the end of input must not end the process (listening replaced that).
    try {
      this.#io.setRaw(false);
    } catch {
      // Gone with the terminal.
    }
    this.#reader?.cancel().catch(() => {});
    this.#o.onLost?.(why);
  }

  /**
   * A line from the wrapper itself (the session ended, restarts), on a line
   * of its own: `[flightdeck-agent: <text>]`.
   */
  notice(text: string): void {
    this.write(`\r\n\x1b[0m[flightdeck-agent: ${text}]\r\n`);
  }

  /**
   * Leave raw mode and reset the modes the program may have left on (after
   * the output still queued); stop reading keys and following resizes. Safe
   * to call more than once. Resolves once that reached the terminal, or
   * after {@link RESTORE_WAIT_MS} when the terminal does not take it.
   */
  restore(): Promise<void> {
    if (this.#restored) return Promise.resolve();
    const lost = this.#lost;
    this.#restored = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#unhangup?.();
    this.#unhangup = undefined;
    if (!this.#started || lost) return Promise.resolve();
    this.#reader?.cancel().catch(() => {});
    try {
      this.#io.setRaw(false);
    } catch {
      // The terminal is gone: nothing to restore on it.
    }
    const reset = this.#encoder.encode(RESTORE_SEQUENCE + "\r\n");
    const write = async () => {
      // What the program printed last goes first, then the reset.
      while (this.#writing) await this.#writing.catch(() => {});
      const parts = [...this.#queue, reset];
      this.#queue = [];
      this.#queued = 0;
      for (const part of parts) {
        try {
          await this.#io.write(part);
        } catch {
          return; // The terminal is gone: nothing to restore on it.
        }
      }
    };
    if (!this.#writing) {
      // Nothing pending: write it now (at once with a synchronous io).
      try {
        const pending = this.#io.write(reset);
        if (!(pending instanceof Promise)) return Promise.resolve();
        return this.#bounded(pending.catch(() => {}));
      } catch {
        return Promise.resolve();
      }
    }
    return this.#bounded(write());
  }

  /** `done`, or a timeout of {@link RESTORE_WAIT_MS}, whichever is first. */
  #bounded(done: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      done,
      new Promise<void>((resolve) =>
        timer = setTimeout(resolve, RESTORE_WAIT_MS)
      ),
    ]).finally(() => clearTimeout(timer));
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
    // stdin ended (the terminal closed): nobody is at this terminal, but
    // the session goes on for the dashboards.
    if (!this.#restored) this.#lose("the terminal's input ended");
  }

  #detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#o.onDetach();
  }
}
