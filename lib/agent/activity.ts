/**
 * Honest activity of a session or a `--pty` command, read from its screen:
 * `working`, `waiting` (idle at its prompt), `needs-input` (a question or a
 * permission, blocked on a person) or `stalled` (working, no progress for
 * `stallAfterMs`). Feed it with {@link ActivityTracker.update} after each
 * screen write; it calls `onChange` only when activity, attention or options
 * change.
 *
 * Timing: a busy screen (spinner, "esc to interrupt") means `working` at once.
 * `waiting` and `needs-input` are declared only after the screen has not
 * changed for `quietMs` (default {@link DEFAULT_QUIET_MS}): a CLI that is
 * drawing a frame may show its prompt for a moment between two frames, a CLI
 * that waits for a person draws nothing. Any other screen (output, unknown)
 * turns a waiting or asking state back into `working` after `quietMs` from
 * the first such change, so one stray frame does not flap the state.
 *
 * @example
 * ```ts
 * const screen = new Screen(80, 24);
 * const tracker = new ActivityTracker(screen, {
 *   type: "claude",
 *   onChange: (state) => send(state),
 * });
 * await screen.write(bytes);
 * tracker.update();
 * ```
 *
 * @module
 */
import {
  classifyScreen,
  type Detector,
  DETECTORS,
  type QuickAnswer,
  type ScreenClass,
  type ScreenView,
} from "./detectors.ts";

export type { QuickAnswer, ScreenView } from "./detectors.ts";

/** What the agent is doing, as shown to the operator. */
export type Activity = "working" | "waiting" | "needs-input" | "stalled";

/** The tracker's verdict. */
export interface ActivityState {
  activity: Activity;
  /** The question's text when `needs-input`, else null. */
  attention: string | null;
  /** Quick answers parsed from the screen when `needs-input`, else empty. */
  options: QuickAnswer[];
}

/**
 * Quiescence before `waiting` / `needs-input`: 500 ms. Spinners tick every
 * 80–130 ms (cli-spinners' dots: 80 ms; Ink renders at most every 32 ms), so
 * a working CLI changes its screen several times in 500 ms, while a CLI that
 * waits for a person changes nothing. It stays well inside the 1 s the issue
 * allows from screen change to every dashboard.
 */
export const DEFAULT_QUIET_MS = 500;
/** No progress for this long while working means `stalled` (5 min). */
export const DEFAULT_STALL_AFTER_MS = 5 * 60_000;

/** The timer functions the tracker uses (a fake clock in tests). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Options of {@link ActivityTracker}. */
export interface ActivityTrackerOptions {
  /** `claude`, `gemini`, `codex`, `shell`, or `exec` for a `--pty` command. */
  type: string;
  /** Called with the new state when activity, attention or options change. */
  onChange: (state: ActivityState) => void;
  /** Replaces the type's waiting patterns (`--waiting-pattern`). */
  waitingPattern?: RegExp;
  /** Replaces the type's question patterns (`--input-pattern`). */
  inputPattern?: RegExp;
  /** Quiescence before waiting / needs-input, ms (default 500). */
  quietMs?: number;
  /** No progress while working before `stalled`, ms (default 5 min). */
  stallAfterMs?: number;
  /** Timer functions; default the global ones. */
  timers?: Timers;
}

/**
 * The detector for `type` with the user's overrides applied: a waiting
 * pattern replaces the type's waiting patterns and is read where the type's
 * are (the cursor row for `shell` and `exec`, the last 6 rows for the AI
 * CLIs); an input pattern replaces the type's question patterns and is then
 * the only way to `needs-input` (numbered answers are still parsed as quick
 * answers).
 * @throws {RangeError} For an unknown type.
 */
export function detectorFor(
  type: string,
  overrides: { waitingPattern?: RegExp; inputPattern?: RegExp } = {},
): Detector {
  const base = Object.hasOwn(DETECTORS, type) ? DETECTORS[type] : undefined;
  if (!base) throw new RangeError(`Unknown agent type "${type}"`);
  const detector = { ...base };
  if (overrides.waitingPattern) {
    detector.waiting = [overrides.waitingPattern];
  }
  if (overrides.inputPattern) {
    detector.input = [overrides.inputPattern];
    detector.optionsMeanInput = false;
    detector.promptAtCursor = false;
  }
  return detector;
}

function checkMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, got "${value}"`);
  }
  return value;
}

function same(a: ActivityState, b: ActivityState): boolean {
  return a.activity === b.activity && a.attention === b.attention &&
    JSON.stringify(a.options) === JSON.stringify(b.options);
}

function stateOf(seen: ScreenClass): ActivityState {
  switch (seen.kind) {
    case "waiting":
      return { activity: "waiting", attention: null, options: [] };
    case "input":
      return {
        activity: "needs-input",
        attention: seen.attention,
        options: seen.options,
      };
    default:
      return { activity: "working", attention: null, options: [] };
  }
}

/** Decides a session's activity from its screen and time. */
export class ActivityTracker {
  #screen: ScreenView;
  #detector: Detector;
  #onChange: (state: ActivityState) => void;
  #quietMs: number;
  #stallAfterMs: number;
  #timers: Timers;
  #state: ActivityState = { activity: "working", attention: null, options: [] };
  #settle: unknown;
  /** Whether the pending settle timer restarts on every change. */
  #settleResets = false;
  #stall: unknown;
  #progress = "";
  #disposed = false;

  /**
   * Starts `working` (a program that just started draws its first screen);
   * call {@link update} after writes.
   * @throws {RangeError} For an unknown type or a non-positive duration.
   */
  constructor(screen: ScreenView, options: ActivityTrackerOptions) {
    this.#screen = screen;
    this.#detector = detectorFor(options.type, options);
    this.#onChange = options.onChange;
    this.#quietMs = checkMs("quietMs", options.quietMs ?? DEFAULT_QUIET_MS);
    this.#stallAfterMs = checkMs(
      "stallAfterMs",
      options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS,
    );
    this.#timers = options.timers ?? globalThis;
    this.#armStall();
  }

  /** The current verdict. */
  get state(): ActivityState {
    return this.#state;
  }

  /** The screen changed: reclassify it (call after the write resolved). */
  update(): void {
    if (this.#disposed) return;
    this.#noteProgress();
    const seen = classifyScreen(this.#screen, this.#detector);
    const next = stateOf(seen);
    if (seen.kind === "busy") {
      this.#cancelSettle();
      if (this.#state.activity !== "stalled") this.#apply(next);
      return;
    }
    // Only progress (above) ends a stall, not a redraw of the same screen.
    const stalledStill = this.#state.activity === "stalled" &&
      next.activity === "working";
    if (stalledStill || same(next, this.#state)) {
      this.#cancelSettle();
      return;
    }
    // A prompt or a question must hold still; anything else is output and
    // wins after quietMs from its first frame, however often it redraws.
    const resets = seen.kind !== "unknown";
    if (this.#settle !== undefined && !resets && !this.#settleResets) return;
    this.#cancelSettle();
    this.#settleResets = resets;
    this.#settle = this.#timers.setTimeout(() => {
      this.#settle = undefined;
      const settled = stateOf(classifyScreen(this.#screen, this.#detector));
      if (
        this.#state.activity === "stalled" && settled.activity === "working"
      ) {
        return;
      }
      this.#apply(settled);
    }, this.#quietMs);
  }

  /** Stop all timers; later updates are ignored. */
  dispose(): void {
    this.#disposed = true;
    this.#cancelSettle();
    if (this.#stall !== undefined) this.#timers.clearTimeout(this.#stall);
    this.#stall = undefined;
  }

  /**
   * Progress is a change of the screen outside the busy rows, so a spinner
   * that keeps ticking while nothing else moves still ends up `stalled`.
   */
  #noteProgress(): void {
    const busy = this.#detector.busy;
    const text = this.#screen.lines(Number.MAX_SAFE_INTEGER)
      .filter((row) => !busy.some((p) => p.test(row)))
      .join("\n");
    if (text === this.#progress) return;
    this.#progress = text;
    if (this.#state.activity === "stalled") {
      this.#apply({ activity: "working", attention: null, options: [] });
    }
    this.#armStall();
  }

  #armStall(): void {
    if (this.#stall !== undefined) this.#timers.clearTimeout(this.#stall);
    this.#stall = undefined;
    if (this.#state.activity !== "working") return;
    this.#stall = this.#timers.setTimeout(() => {
      this.#stall = undefined;
      if (this.#state.activity !== "working") return;
      this.#cancelSettle();
      this.#apply({ activity: "stalled", attention: null, options: [] });
    }, this.#stallAfterMs);
  }

  #cancelSettle(): void {
    if (this.#settle !== undefined) this.#timers.clearTimeout(this.#settle);
    this.#settle = undefined;
  }

  #apply(next: ActivityState): void {
    if (this.#disposed || same(next, this.#state)) return;
    const wasWorking = this.#state.activity === "working";
    this.#state = next;
    if (next.activity === "working" && !wasWorking) this.#armStall();
    if (next.activity !== "working" && this.#stall !== undefined) {
      this.#timers.clearTimeout(this.#stall);
      this.#stall = undefined;
    }
    this.#onChange(next);
  }
}
