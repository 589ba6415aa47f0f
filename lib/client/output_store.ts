/**
 * Per-command terminal output on the client: puts chunks in `seq` order,
 * drops duplicates, asks for missing ranges with `terminal:resume`, keeps a
 * bounded cache for replay and notifies listeners (the Terminal island).
 * A command first seen mid-stream is asked for with a snapshot allowed: the
 * server may answer with the screen (`terminal:snapshot`) standing for all
 * output up to its seq, then the output after it; older output is loaded
 * page by page on demand (`terminal:earlier`).
 * @module
 */
import { byteLength, type Stream } from "../protocol.ts";
import { QUIET } from "./quiet.ts";
import { stderrText } from "./stderr.ts";

/** One `terminal:output` payload as the store needs it. */
export interface OutputChunk {
  agentId: string;
  commandId: string;
  seq: number;
  data: string;
  /** `stderr` is drawn distinctly (red, see stderr.ts); absent: as is. */
  stream?: Stream;
}

/** What output listeners receive. `text` is ready to write to xterm. */
export type OutputEvent =
  | {
    kind: "output";
    agentId: string;
    commandId: string;
    seq: number;
    text: string;
  }
  | {
    kind: "gap";
    agentId: string;
    commandId: string;
    fromSeq: number;
    toSeq: number;
    text: string;
  }
  | { kind: "started"; agentId: string; commandId: string }
  | {
    /** The screen replaced what was cached: redraw the command. */
    kind: "snapshot";
    agentId: string;
    commandId: string;
    seq: number;
  }
  | {
    /** A page of older output was loaded: redraw the command. */
    kind: "earlier";
    agentId: string;
    commandId: string;
  };

/** A screen snapshot as received (`terminal:snapshot`). */
export interface ScreenChunk {
  agentId: string;
  commandId: string;
  seq: number;
  cols: number;
  rows: number;
  data: string;
}

/** A page of older output as received (`terminal:earlier`). */
export interface EarlierPage {
  agentId: string;
  commandId: string;
  fromSeq: number;
  toSeq: number;
  data: string;
  more: boolean;
}

/** What a command shows when it started from a snapshot. */
export interface ScreenView {
  seq: number;
  cols: number;
  rows: number;
  data: string;
  /** Older output loaded so far, oldest first (output before `earlierFrom`... `seq`). */
  earlier: string[];
  /** Seq of the oldest output loaded (`seq + 1` when none). */
  earlierFrom: number;
  /** Whether older output may be stored (the "Load earlier output" control). */
  more: boolean;
}

/** Options of {@link OutputStore}. */
export interface OutputStoreOptions {
  /**
   * Asks the server to replay output of `commandId` after `afterSeq`; with
   * `snapshot`, a screen snapshot may stand for the output up to its seq.
   */
  requestResume?: (
    commandId: string,
    afterSeq: number,
    snapshot: boolean,
  ) => void;
  /**
   * Cached text per command, in UTF-16 units (2 bytes each in memory),
   * before the oldest chunks are trimmed (default 2 Mi units ≈ 4 MiB;
   * `Infinity` keeps everything, e.g. for tests reading whole outputs).
   */
  maxBytesPerCommand?: number;
  /**
   * Commands known (cached, or with a seq or replay request); the least
   * recently used are forgotten entirely (default 200).
   */
  maxCommands?: number;
  /**
   * Cached text of all commands together, in UTF-16 units; least recently
   * used commands are forgotten entirely beyond it (default 16 Mi units ≈
   * 32 MiB, never below `maxBytesPerCommand`, so `Infinity` there lifts it).
   */
  maxTotalBytes?: number;
}

/** Default of {@link OutputStoreOptions.maxBytesPerCommand}. */
export const DEFAULT_MAX_BYTES_PER_COMMAND = 2 * 1024 * 1024;
/** Default of {@link OutputStoreOptions.maxTotalBytes}. */
export const DEFAULT_MAX_TOTAL_BYTES = 16 * 1024 * 1024;

interface CacheEntry {
  chunks: string[];
  bytes: number;
  trimmed: boolean;
  /** The screen the cached chunks follow, when it started from one. */
  screen?: ScreenView;
}

function idsOf(page: { agentId: string; commandId: string }) {
  return { agentId: page.agentId, commandId: page.commandId };
}

/** The dim marker line shown where output `from`–`to` was lost to retention. */
export function gapMarker(from: number, to: number): string {
  return `${QUIET}[… output ${from}–${to} no longer retained …]\x1b[0m\r\n`;
}

/** Marker shown before the cache of a command whose oldest chunks were trimmed. */
export const TRIMMED_MARKER =
  `${QUIET}[… earlier output trimmed in this tab, full log above]\x1b[0m\r\n`;

/**
 * Ordered, de-duplicated output per command.
 *
 * @example
 * ```ts
 * const out = new OutputStore({ requestResume: (id, after) => send(id, after) });
 * out.subscribe((event) => event.kind === "output" && term.write(event.text));
 * out.receive({ agentId: "a", commandId: "c", seq: 1, data: "hi\n" });
 * ```
 */
export class OutputStore {
  /** Settable so stores can be created before the client exists. */
  requestResume: (
    commandId: string,
    afterSeq: number,
    snapshot: boolean,
  ) => void;
  #maxBytes: number;
  #maxCommands: number;
  #maxTotal: number;
  /** Cached text of every command, summed. */
  #total = 0;
  #last = new Map<string, number>();
  #pending = new Map<string, Map<number, OutputChunk>>();
  #requested = new Map<string, number>();
  /** Replays asked for by the last `resume` map (see {@link resumeMap}). */
  #resumed = new Map<string, number>();
  /**
   * Commands asked for from the start with a snapshot allowed: while
   * nothing of them is rendered (seq 0) they stay out of the `resume` map
   * (its replays never allow a snapshot) and a new connection asks for
   * them again the same way (see {@link connectionReset}).
   */
  #fromScratch = new Set<string>();
  /**
   * Commands to ask for again from the start once the connection that
   * opened last is acknowledged: those asked for before it opened (see
   * {@link resumeMap}). Null when no connection opened since the last
   * acknowledgement.
   */
  #reask: Set<string> | null = null;
  /**
   * One entry per known command, least recently used first: the LRU order
   * every other per-command map is bounded by.
   */
  #cache = new Map<string, CacheEntry>();
  /** UTF-8 bytes of output received per command (markers not counted). */
  #bytes = new Map<string, number>();
  #gaps = new Set<string>();
  #listeners = new Set<(event: OutputEvent) => void>();

  /** Create an empty store. */
  constructor(options: OutputStoreOptions = {}) {
    this.requestResume = options.requestResume ?? (() => {});
    this.#maxBytes = options.maxBytesPerCommand ??
      DEFAULT_MAX_BYTES_PER_COMMAND;
    this.#maxCommands = options.maxCommands ?? 200;
    this.#maxTotal = options.maxTotalBytes ??
      Math.max(DEFAULT_MAX_TOTAL_BYTES, this.#maxBytes);
  }

  /** Last seq rendered for `commandId`, or undefined when never seen. */
  lastSeq(commandId: string): number | undefined {
    return this.#last.get(commandId);
  }

  /**
   * Every command's last seq, optionally filtered: the `resume` map, for a
   * connection that just opened (it goes with `dashboard:connect`). The
   * map is about to be sent, so its replays count as asked for: a gap seen
   * while they are on their way does not ask again (which would only bring
   * the same chunks twice). Requests made before went to an older
   * connection or nowhere: they no longer count as on their way, and those
   * asked for from the start with a snapshot allowed and not answered yet
   * are left out of the map: the connection asks for them again with a
   * snapshot allowed once it is acknowledged ({@link connectionReset}), so
   * a late joiner whose connection dropped still gets the screen instead
   * of a full replay. Requests made from now on go over this connection.
   */
  resumeMap(
    include: (commandId: string) => boolean = () => true,
  ): Record<string, number> {
    const map: Record<string, number> = {};
    const reask = new Set<string>();
    for (const [id, seq] of this.#last) {
      if (this.#awaitsScratch(id)) reask.add(id);
      else if (include(id)) map[id] = seq;
    }
    this.#resumed = new Map(Object.entries(map));
    this.#requested.clear();
    this.#reask = reask;
    return map;
  }

  /** Whether a replay for `commandId` was asked for or chunks wait for one. */
  isWaiting(commandId: string): boolean {
    return this.#requested.has(commandId) || this.#pending.has(commandId);
  }

  /**
   * Cached text of `commandId` (with a trim marker first when trimmed); for
   * a command that started from a snapshot, the output after it (see
   * {@link screen}).
   */
  text(commandId: string): string[] | undefined {
    const entry = this.#cache.get(commandId);
    if (
      !entry ||
      (entry.chunks.length === 0 && !entry.trimmed && !entry.screen)
    ) {
      return undefined;
    }
    return entry.trimmed
      ? [TRIMMED_MARKER, ...entry.chunks]
      : [...entry.chunks];
  }

  /**
   * The whole cached output of `commandId` as one string ("" when none),
   * with gap markers where output was lost to retention and the trim marker
   * first when the cache bound dropped its beginning.
   */
  fullText(commandId: string): string {
    return this.text(commandId)?.join("") ?? "";
  }

  /** UTF-8 bytes of output received for `commandId` (compare `outputBytes`). */
  receivedBytes(commandId: string): number {
    return this.#bytes.get(commandId) ?? 0;
  }

  /** Whether part of `commandId`'s output was past retention (`terminal:gap`). */
  hasGap(commandId: string): boolean {
    return this.#gaps.has(commandId);
  }

  /** Listen to output events; returns the unsubscribe. */
  subscribe(listener: (event: OutputEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tell listeners a command started (for its header line). */
  started(agentId: string, commandId: string): void {
    this.#emit({ kind: "started", agentId, commandId });
  }

  /**
   * Make sure the output of `commandId` is here or on its way: when never
   * seen, asks for a replay from the start. Returns whether it asked.
   */
  ensure(commandId: string): boolean {
    if (this.#last.has(commandId)) return false;
    this.#touch(commandId);
    this.#last.set(commandId, 0);
    this.#fromScratch.add(commandId);
    this.#ask(commandId, 0, true);
    return true;
  }

  /** Ask for output of `commandId` after `afterSeq`; it is on its way now. */
  #ask(commandId: string, afterSeq: number, snapshot: boolean): void {
    this.#requested.set(commandId, afterSeq);
    // Asked over the connection open now: no need to ask again once it is
    // acknowledged.
    this.#reask?.delete(commandId);
    this.requestResume(commandId, afterSeq, snapshot);
  }

  /** Asked for from the start with a snapshot allowed, nothing rendered yet. */
  #awaitsScratch(commandId: string): boolean {
    if (!this.#fromScratch.has(commandId)) return false;
    if (this.#last.get(commandId) === 0) return true;
    this.#fromScratch.delete(commandId); // answered (or forgotten)
    return false;
  }

  /** The screen `commandId` started from (its snapshot), if it did. */
  screen(commandId: string): Readonly<ScreenView> | undefined {
    return this.#cache.get(commandId)?.screen;
  }

  /**
   * Take a `terminal:snapshot`: when it covers more than what was rendered,
   * it replaces the cached output, the seq jumps to its seq, and output
   * held after it is written. Returns whether it was taken.
   */
  snapshot(screen: ScreenChunk): boolean {
    const { commandId, seq } = screen;
    const last = this.#last.get(commandId) ?? 0;
    if (seq <= last) return false;
    const entry = this.#touch(commandId);
    this.#total -= entry.bytes;
    entry.chunks = [];
    entry.trimmed = false;
    entry.bytes = screen.data.length;
    this.#total += entry.bytes;
    entry.screen = {
      seq,
      cols: screen.cols,
      rows: screen.rows,
      data: screen.data,
      earlier: [],
      earlierFrom: seq + 1,
      more: true,
    };
    this.#last.set(commandId, seq);
    this.#emit({ kind: "snapshot", agentId: screen.agentId, commandId, seq });
    // The output after it is on its way (the rest of the same answer): a
    // request still outstanding stays so, and live output meanwhile waits.
    this.#drain(commandId);
    this.#evict();
    return true;
  }

  /**
   * Take a page of older output (`terminal:earlier`) of a command that
   * started from a snapshot: kept when it ends before where the loaded
   * output begins and the command's cache has room for it (else nothing
   * more is offered). A page that ends short of it (the chunks between are
   * no longer stored) is kept with a gap marker for the missing seqs, so
   * the next page starts before it; a page that does not end before it
   * (the answer to an older request) is ignored. Returns whether it was
   * kept.
   */
  earlier(page: EarlierPage): boolean {
    const entry = this.#cache.get(page.commandId);
    const screen = entry?.screen;
    if (!entry || !screen) return false;
    if (page.data === "") {
      // Nothing (more) stored before what is loaded: stop offering it.
      if (page.toSeq < screen.earlierFrom) {
        screen.more = false;
        this.#emit({ kind: "earlier", ...idsOf(page) });
      }
      return false;
    }
    if (page.toSeq >= screen.earlierFrom || page.fromSeq > page.toSeq) {
      return false;
    }
    const text = page.toSeq === screen.earlierFrom - 1
      ? page.data
      : page.data + gapMarker(page.toSeq + 1, screen.earlierFrom - 1);
    if (entry.bytes + text.length > this.#maxBytes) {
      screen.more = false; // this tab keeps no more of it
      this.#emit({ kind: "earlier", ...idsOf(page) });
      return false;
    }
    if (text !== page.data) this.#gaps.add(page.commandId);
    screen.earlier.unshift(text);
    screen.earlierFrom = page.fromSeq;
    screen.more = page.more;
    entry.bytes += text.length;
    this.#total += text.length;
    this.#touch(page.commandId);
    this.#emit({ kind: "earlier", ...idsOf(page) });
    return true;
  }

  /**
   * A new connection was acknowledged: ask again, with a snapshot allowed,
   * for the commands asked for from the start before it opened that
   * nothing of has come yet (left out of its resume map, see
   * {@link resumeMap}): the request may have been dropped while offline or
   * lost with the old connection. One asked for since it opened went over
   * it and is answered: not asked again (the answer would come twice).
   * When no resume map was taken since the last acknowledgement, every
   * outstanding request counts as lost: forgotten, and those from the
   * start asked for again.
   */
  connectionReset(): void {
    let reask = this.#reask;
    this.#reask = null;
    if (reask === null) {
      this.#requested.clear();
      reask = new Set(this.#fromScratch);
    }
    for (const commandId of reask) {
      if (this.#awaitsScratch(commandId)) this.#ask(commandId, 0, true);
    }
  }

  /**
   * Take one chunk. Returns `written` (in order, emitted), `duplicate`
   * (seq already seen, dropped) or `held` (after a gap; a replay was asked).
   */
  receive(chunk: OutputChunk): "written" | "duplicate" | "held" {
    const { commandId, seq } = chunk;
    let last = this.#last.get(commandId);
    if (last === undefined) {
      this.#touch(commandId);
      this.#last.set(commandId, last = 0);
    }
    if (seq <= last) return "duplicate";
    if (seq > last + 1) {
      let held = this.#pending.get(commandId);
      if (!held) this.#pending.set(commandId, held = new Map());
      held.set(seq, chunk);
      // One replay at a time: a replay on its way fills every gap seen
      // meanwhile (the server sends up to where live output took over), so
      // asking again would only bring the same chunks twice.
      if (!this.#requested.has(commandId) && !this.#resumed.has(commandId)) {
        // Never seen before: the screen may stand for its history.
        if (last === 0) this.#fromScratch.add(commandId);
        this.#ask(commandId, last, last === 0);
      }
      return "held";
    }
    this.#write(chunk);
    this.#drain(commandId);
    return "written";
  }

  /** Output `fromSeq`–`toSeq` of a command is past retention: mark and skip it. */
  gap(
    gap: { agentId: string; commandId: string; fromSeq: number; toSeq: number },
  ): void {
    const last = this.#last.get(gap.commandId) ?? 0;
    if (gap.toSeq <= last) return;
    const fromSeq = Math.max(gap.fromSeq, last + 1);
    const text = gapMarker(fromSeq, gap.toSeq);
    this.#touch(gap.commandId);
    this.#last.set(gap.commandId, gap.toSeq);
    this.#gaps.add(gap.commandId);
    this.#append(gap.commandId, text);
    this.#emit({ kind: "gap", ...gap, fromSeq, text });
    this.#drain(gap.commandId);
    if (!this.#pending.has(gap.commandId)) {
      this.#requested.delete(gap.commandId);
    }
  }

  #write(chunk: OutputChunk): void {
    this.#last.set(chunk.commandId, chunk.seq);
    this.#bytes.set(
      chunk.commandId,
      this.receivedBytes(chunk.commandId) + byteLength(chunk.data),
    );
    const text = chunk.stream === "stderr"
      ? stderrText(chunk.data)
      : chunk.data;
    this.#append(chunk.commandId, text);
    this.#emit({
      kind: "output",
      agentId: chunk.agentId,
      commandId: chunk.commandId,
      seq: chunk.seq,
      text,
    });
  }

  #drain(commandId: string): void {
    const held = this.#pending.get(commandId);
    if (!held) return;
    let last = this.#last.get(commandId) ?? 0;
    for (const seq of held.keys()) if (seq <= last) held.delete(seq);
    let next: OutputChunk | undefined;
    while ((next = held.get(last + 1))) {
      held.delete(last + 1);
      this.#write(next);
      last++;
    }
    if (held.size === 0) {
      this.#pending.delete(commandId);
      this.#requested.delete(commandId);
      this.#resumed.delete(commandId);
    }
  }

  /** The entry of `commandId`, made the most recently used (created if new). */
  #touch(commandId: string): CacheEntry {
    let entry = this.#cache.get(commandId);
    if (entry) this.#cache.delete(commandId); // re-insert: most recent last
    entry ??= { chunks: [], bytes: 0, trimmed: false };
    this.#cache.set(commandId, entry);
    this.#evict();
    return entry;
  }

  #append(commandId: string, text: string): void {
    const entry = this.#touch(commandId);
    entry.chunks.push(text);
    entry.bytes += text.length;
    this.#total += text.length;
    if (entry.bytes > this.#maxBytes && entry.screen) {
      // Over the bound: the screen goes first (the output after it alone
      // then shows, trimmed), never output from between.
      const screen = entry.screen;
      const dropped = screen.data.length +
        screen.earlier.reduce((n, page) => n + page.length, 0);
      entry.bytes -= dropped;
      this.#total -= dropped;
      entry.screen = undefined;
      entry.trimmed = true;
    }
    while (entry.bytes > this.#maxBytes && entry.chunks.length > 1) {
      const dropped = entry.chunks.shift()!.length;
      entry.bytes -= dropped;
      this.#total -= dropped;
      entry.trimmed = true;
    }
    this.#evict();
  }

  /** Forget least recently used commands beyond the count and size bounds. */
  #evict(): void {
    while (
      this.#cache.size > this.#maxCommands ||
      (this.#total > this.#maxTotal && this.#cache.size > 1)
    ) {
      const oldest = this.#cache.keys().next().value!;
      this.#forget(oldest);
    }
  }

  /**
   * Forget everything about `commandId`. Forgetting its seq too means a
   * later view asks for a full replay, and the resume map stays bounded.
   */
  #forget(commandId: string): void {
    this.#total -= this.#cache.get(commandId)?.bytes ?? 0;
    this.#cache.delete(commandId);
    this.#last.delete(commandId);
    this.#pending.delete(commandId);
    this.#requested.delete(commandId);
    this.#resumed.delete(commandId);
    this.#fromScratch.delete(commandId);
    this.#reask?.delete(commandId);
    this.#bytes.delete(commandId);
    this.#gaps.delete(commandId);
  }

  /** Known commands (for tests and diagnostics). */
  get size(): number {
    return this.#cache.size;
  }

  /** Cached text of all commands, in UTF-16 units. */
  get cachedBytes(): number {
    return this.#total;
  }

  #emit(event: OutputEvent): void {
    for (const listener of [...this.#listeners]) listener(event);
  }
}
