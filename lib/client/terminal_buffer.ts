/**
 * Feeds xterm without freezing the tab: coalesces writes per animation frame
 * into one `term.write(data, callback)` and holds data (never drops it) while
 * xterm has not yet parsed enough of what it already got. Writes that find
 * xterm idle (nothing queued, nothing unparsed) go to xterm at the end of
 * the current task (a microtask, all of that task's writes in one), not a
 * frame later, so a keystroke's echo is drawn in the next frame rather than
 * the one after.
 *
 * Each frame hands xterm about as much as it parses in `frameBudgetMs`
 * (estimated from how fast it parsed the last writes), so the tab's main
 * thread keeps time for everything else (input, the socket) however fast
 * output arrives; the rest waits here.
 *
 * Skipping ahead: live output may be written with a tag (its command id).
 * When more than `skipAfterBytes` wait (xterm cannot parse as fast as output
 * arrives), the oldest waiting text of the newest run of one tag is dropped
 * down to its last `keepBytes`, from a line start on, and a marker line
 * (`skipMarker`, naming the UTF-8 bytes it stands for) takes its place;
 * `onSkip` is told each skip's bytes. A marker not yet handed to xterm that
 * is followed only by text skipped again stands for both: one marker line.
 * Text written without a tag (headers, replays) is never dropped, and
 * nothing is dropped across it.
 * @module
 */
import { byteLength } from "../protocol.ts";

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
  /**
   * Text (UTF-16 units) waiting before tagged text is skipped (default
   * 4 Mi); `Infinity` never skips.
   */
  skipAfterBytes?: number;
  /** Newest tagged text kept when skipping (default 256 Ki units). */
  keepBytes?: number;
  /**
   * Parse time a frame hands xterm, in ms (default 8: half a 60 Hz frame),
   * at least 16 Ki units a frame; `Infinity` hands everything at once.
   */
  frameBudgetMs?: number;
  /** Clock in ms for the parse rate (default `performance.now`). */
  now?: () => number;
  /** Told the UTF-8 bytes of `tag`'s output each skip dropped. */
  onSkip?: (tag: string, bytes: number) => void;
  /**
   * The marker line standing for `bytes` of skipped output; `atLineStart`
   * says whether the text before it ended a line. Default: a dim line
   * naming the bytes.
   */
  skipMarker?: (bytes: number, atLineStart: boolean) => string;
}

/** Text written with a tag: may be skipped (see {@link TerminalBuffer}). */
interface Tagged {
  text: string;
  tag: string;
  /** Set on a skip marker: the bytes it stands for. */
  skipped?: { bytes: number; atLineStart: boolean };
}

type Item = string | Tagged | (() => void);

const textOf = (item: string | Tagged) =>
  typeof item === "string" ? item : item.text;

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
  #skipAfter: number;
  #keep: number;
  #onSkip: (tag: string, bytes: number) => void;
  #skipMarker: (bytes: number, atLineStart: boolean) => string;
  #frameBudgetMs: number;
  #now: () => number;
  /** xterm's parse rate estimate in units per ms (null before a sample). */
  #rate: number | null = null;
  /** When xterm finished the last write (its callback ran). */
  #lastDoneAt = -Infinity;
  /** Whether the last text handed to xterm ended a line (or none was). */
  #atLineStart = true;
  /** Text to write, and steps to run once the text before them is parsed. */
  #queue: Item[] = [];
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
    this.#skipAfter = options.skipAfterBytes ?? 4 * 1024 * 1024;
    this.#keep = options.keepBytes ?? 256 * 1024;
    this.#frameBudgetMs = options.frameBudgetMs ?? 8;
    this.#now = options.now ?? (() => performance.now());
    this.#onSkip = options.onSkip ?? (() => {});
    this.#skipMarker = options.skipMarker ??
      ((bytes, atLineStart) =>
        `${atLineStart ? "" : "\r\n"}\x1b[0;2m[… ${bytes} bytes not shown]` +
        "\x1b[0m\r\n");
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
   * else on the next frame that is not blocked. With a `tag` (live output of
   * one command) it may be skipped when xterm falls behind.
   */
  write(data: string, tag?: string): void {
    if (this.#disposed || data.length === 0) return;
    this.#queue.push(tag === undefined ? data : { text: data, tag });
    this.#queuedBytes += data.length;
    if (tag !== undefined && this.#queuedBytes > this.#skipAfter) {
      this.#skipAhead(tag);
    }
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

  /**
   * Drop the oldest text of the run of `tag` at the end of the queue so that
   * about the newest {@link TerminalBufferOptions.keepBytes} stay, starting
   * at a line start (after the first line break at or after the cut, if the
   * piece cut has one), and put the marker in its place.
   */
  #skipAhead(tag: string): void {
    const queue = this.#queue;
    let start = queue.length;
    let runBytes = 0;
    for (; start > 0; start--) {
      const item = queue[start - 1];
      if (typeof item !== "object" || item.tag !== tag || item.skipped) break;
      runBytes += item.text.length;
    }
    if (runBytes <= this.#keep) return;
    // Units to drop from the run's start: whole pieces, then part of one.
    let cut = runBytes - this.#keep;
    const dropped: string[] = [];
    let end = start;
    for (;;) {
      const piece = queue[end] as Tagged;
      if (cut >= piece.text.length) {
        dropped.push(piece.text);
        cut -= piece.text.length;
        end++;
        // Cut between pieces: done if that was at a line start.
        if (cut === 0 && (piece.text.endsWith("\n") || end === queue.length)) {
          break;
        }
        continue;
      }
      const text = piece.text;
      const lineBreak = text.indexOf("\n", Math.max(0, cut - 1));
      let from = lineBreak >= 0 ? lineBreak + 1 : cut;
      // Never between the halves of a surrogate pair.
      if (from < text.length && (text.charCodeAt(from) & 0xfc00) === 0xdc00) {
        from++;
      }
      if (from > 0) dropped.push(text.slice(0, from));
      if (from >= text.length) end++;
      else piece.text = text.slice(from);
      break;
    }
    const bytes = dropped.reduce((n, text) => n + byteLength(text), 0);
    this.#onSkip(tag, bytes);
    this.#queuedBytes -= dropped.reduce((n, text) => n + text.length, 0);
    // Right after the marker of the last skip: one marker for both.
    const last = start > 0 ? queue[start - 1] : undefined;
    let skipped: { bytes: number; atLineStart: boolean };
    if (typeof last === "object" && last.tag === tag && last.skipped) {
      start--;
      skipped = { ...last.skipped, bytes: last.skipped.bytes + bytes };
      this.#queuedBytes -= last.text.length;
    } else {
      const atLineStart = last === undefined || typeof last === "function"
        ? this.#atLineStart
        : textOf(last).endsWith("\n");
      skipped = { bytes, atLineStart };
    }
    const text = this.#skipMarker(skipped.bytes, skipped.atLineStart);
    queue.splice(start, end - start, { text, tag, skipped });
    this.#queuedBytes += text.length;
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
    const budget = this.#frameUnits();
    let handed = 0;
    for (;;) {
      // Steps at the head run once nothing written before them is unparsed.
      while (typeof this.#queue[0] === "function") {
        if (this.#inFlightWrites > 0) return; // the write callback reschedules
        (this.#queue.shift() as () => void)();
        if (this.#disposed) return;
      }
      if (this.blocked || this.#queue.length === 0) return;
      // At least one piece a frame; more while they fit the budget.
      const size = this.#writeNext(Math.min(this.#maxBytes, budget - handed), {
        atLeastOne: handed === 0,
      });
      if (size === 0) return this.#schedule(); // the next frame goes on
      handed += size;
    }
  }

  /** Units a frame hands xterm: its parse rate times the frame budget. */
  #frameUnits(): number {
    if (this.#rate === null) return this.#maxBytes;
    return Math.max(16 * 1024, this.#rate * this.#frameBudgetMs);
  }

  /**
   * Hand xterm the text up to the next step, at most `limit` units of it
   * (with `atLeastOne`, at least one piece): the rest waits here, where it
   * can still be skipped. Returns the units handed (0: none fit).
   */
  #writeNext(limit: number, { atLeastOne }: { atLeastOne: boolean }): number {
    let end = 0;
    let size = 0;
    for (; end < this.#queue.length; end++) {
      const item = this.#queue[end];
      if (typeof item === "function") break;
      const length = textOf(item).length;
      if ((end > 0 || !atLeastOne) && size + length > limit) break;
      size += length;
    }
    // A skip marker goes with the text after it: skipped again, that text
    // would need a marker of its own right after it.
    const last = this.#queue[end - 1];
    const next = this.#queue[end];
    if (
      typeof last === "object" && last.skipped && next !== undefined &&
      typeof next !== "function"
    ) {
      size += textOf(next).length;
      end++;
    }
    if (end === 0) return 0;
    const texts = (this.#queue.splice(0, end) as (string | Tagged)[]).map(
      textOf,
    );
    const data = texts.length === 1 ? texts[0] : texts.join("");
    this.#atLineStart = data.endsWith("\n");
    this.#queuedBytes -= size;
    this.#inFlightWrites++;
    this.#inFlightBytes += size;
    const generation = this.#generation;
    const handedAt = this.#now();
    this.#term.write(data, () => {
      if (generation !== this.#generation) return;
      this.#inFlightWrites--;
      this.#inFlightBytes -= size;
      // xterm parses writes one after another: this one took from when it
      // was handed (or the one before it was done) until now.
      const doneAt = this.#now();
      const busy = doneAt - Math.max(handedAt, this.#lastDoneAt);
      this.#lastDoneAt = doneAt;
      if (size >= 4096 && busy >= 1) {
        const rate = size / busy;
        this.#rate = this.#rate === null ? rate : 0.7 * this.#rate + 0.3 * rate;
      }
      this.#schedule();
    });
    return size;
  }
}
