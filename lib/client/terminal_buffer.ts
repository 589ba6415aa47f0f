/**
 * Feeds xterm without freezing the tab: coalesces writes per animation frame
 * into one `term.write(data, callback)` and holds data (never drops it) while
 * xterm has not yet parsed enough of what it already got. Writes that find
 * xterm idle (nothing queued, nothing unparsed) go to xterm at the end of
 * the current task (a microtask, all of that task's writes in one), not a
 * frame later, so a keystroke's echo is drawn in the next frame rather than
 * the one after.
 * @module
 */

/** The part of xterm's `Terminal` the buffer uses. */
export interface WritableTerminal {
  write(data: string, callback?: () => void): void;
}

/** Options of {@link TerminalBuffer}. */
export interface TerminalBufferOptions {
  /** Schedules a flush; defaults to `requestAnimationFrame`. */
  requestFrame?: (callback: () => void) => unknown;
  /** Cancels a scheduled flush; defaults to `cancelAnimationFrame`. */
  cancelFrame?: (handle: unknown) => void;
  /** Writes handed to xterm and not yet parsed before holding (default 4). */
  maxPendingWrites?: number;
  /** Bytes handed to xterm and not yet parsed before holding (default 512 KiB). */
  maxPendingBytes?: number;
  /**
   * When xterm has nothing unparsed and nothing waits, hand writes over at
   * the end of the current task instead of the next frame (default true);
   * false waits for a frame every time.
   */
  immediateWhenIdle?: boolean;
}

/**
 * Coalescing, backpressured writer in front of an xterm terminal.
 *
 * @example
 * ```ts
 * const buffer = new TerminalBuffer(term);
 * buffer.write("\x1b[32mok\x1b[0m\r\n");
 * ```
 */
export class TerminalBuffer {
  #term: WritableTerminal;
  #requestFrame: (callback: () => void) => unknown;
  #cancelFrame: (handle: unknown) => void;
  #maxWrites: number;
  #maxBytes: number;
  #immediate: boolean;
  /** Text to write, and steps to run once the text before them is parsed. */
  #queue: (string | (() => void))[] = [];
  #queuedBytes = 0;
  /** A requested frame's handle, or the token of a pending microtask. */
  #frame: unknown = null;
  #frameIsTask = false;
  #inFlightWrites = 0;
  #inFlightBytes = 0;
  #generation = 0;
  #disposed = false;

  /** Wrap `term`. */
  constructor(term: WritableTerminal, options: TerminalBufferOptions = {}) {
    this.#term = term;
    this.#requestFrame = options.requestFrame ??
      ((cb) => globalThis.requestAnimationFrame(cb));
    this.#cancelFrame = options.cancelFrame ??
      ((h) => globalThis.cancelAnimationFrame(h as number));
    this.#maxWrites = options.maxPendingWrites ?? 4;
    this.#maxBytes = options.maxPendingBytes ?? 512 * 1024;
    this.#immediate = options.immediateWhenIdle ?? true;
  }

  /** Bytes (UTF-16 units) waiting in this buffer, not yet given to xterm. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Writes given to xterm whose callback has not fired yet. */
  get inFlightWrites(): number {
    return this.#inFlightWrites;
  }

  /** Whether xterm is too far behind to take more right now. */
  get blocked(): boolean {
    return this.#inFlightWrites >= this.#maxWrites ||
      this.#inFlightBytes >= this.#maxBytes;
  }

  /**
   * Queue `data`; it reaches xterm at the end of this task if xterm is idle,
   * else on the next frame that is not blocked.
   */
  write(data: string): void {
    if (this.#disposed || data.length === 0) return;
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    if (
      this.#immediate && this.#frame === null && this.#inFlightWrites === 0
    ) {
      const token = {};
      this.#frame = token;
      this.#frameIsTask = true;
      queueMicrotask(() => {
        if (this.#frame === token) this.#flush();
      });
      return;
    }
    this.#schedule();
  }

  /**
   * Queue `step` (e.g. a resize): it runs once xterm has parsed everything
   * written before it, and before anything written after it reaches xterm.
   */
  run(step: () => void): void {
    if (this.#disposed) return;
    this.#queue.push(step);
    this.#schedule();
  }

  /** Drop queued data (e.g. before `term.reset()` and a replay). */
  clear(): void {
    this.#queue = [];
    this.#queuedBytes = 0;
    // Callbacks of writes from before the clear must not unblock twice.
    this.#generation++;
    this.#inFlightWrites = 0;
    this.#inFlightBytes = 0;
    if (this.#frame !== null && !this.#frameIsTask) {
      this.#cancelFrame(this.#frame);
    }
    this.#frame = null;
  }

  /** Stop writing for good. */
  dispose(): void {
    this.clear();
    this.#disposed = true;
  }

  #schedule(): void {
    if (this.#frame !== null || this.blocked || this.#queue.length === 0) {
      return;
    }
    this.#frameIsTask = false;
    this.#frame = this.#requestFrame(() => this.#flush());
  }

  #flush(): void {
    this.#frame = null;
    if (this.#disposed) return;
    // Steps at the head run once nothing written before them is unparsed.
    while (typeof this.#queue[0] === "function") {
      if (this.#inFlightWrites > 0) return; // the write callback reschedules
      (this.#queue.shift() as () => void)();
      if (this.#disposed) return;
    }
    if (this.blocked || this.#queue.length === 0) return;
    let end = this.#queue.findIndex((item) => typeof item === "function");
    if (end < 0) end = this.#queue.length;
    const texts = this.#queue.splice(0, end) as string[];
    const data = texts.length === 1 ? texts[0] : texts.join("");
    const size = data.length;
    this.#queuedBytes -= size;
    this.#inFlightWrites++;
    this.#inFlightBytes += size;
    const generation = this.#generation;
    this.#term.write(data, () => {
      if (generation !== this.#generation) return;
      this.#inFlightWrites--;
      this.#inFlightBytes -= size;
      this.#schedule();
    });
    // More (after a step) waits for this write's callback.
  }
}
