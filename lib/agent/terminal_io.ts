/**
 * The agent's side of a live terminal for one `--pty` command: a headless
 * {@link Screen} fed with the command's output and an {@link ActivityTracker}
 * that reads it, so the agent can report `agent:activity` (a command blocked
 * on `read -p "Name? "` is `needs-input` with attention `Name?`).
 *
 * Keystrokes and resizes from the controller go to the process itself
 * (`RunningProcess.write` / `resize`); {@link PtyView.resize} keeps the
 * screen's grid the same as the PTY's.
 *
 * @module
 */
import {
  type ActivityState,
  ActivityTracker,
  type ActivityTrackerOptions,
} from "./activity.ts";
import { Screen, type ScreenSnapshot } from "./screen.ts";
import { byteLength, LIMITS, TERMINAL_SIZE } from "../protocol.ts";

/**
 * Scrollback lines a snapshot tries, most first: the first whose data fits
 * {@link LIMITS.maxSnapshotBytes} (and whose JSON form fits half a frame) is
 * sent.
 */
export const SNAPSHOT_SCROLLBACKS = [1000, 200, 0] as const;

// Moved to activity_message.ts (which loads no headless terminal); re-exported.
export { activityMessage } from "./activity_message.ts";

/** Options of {@link PtyView}. */
export interface PtyViewOptions {
  cols: number;
  rows: number;
  /** Detector type: `exec` for `--pty` commands. */
  type: string;
  /** Called when activity, attention or options change. */
  onChange: (state: ActivityState) => void;
  /**
   * Answers to terminal queries the program sent (cursor position, device
   * attributes, see `Screen.onReply`), to be written back into its PTY.
   */
  onReply?: (data: string) => void;
  /** Passed on to the tracker (quiescence, stall time, timers). */
  tracker?: Omit<ActivityTrackerOptions, "type" | "onChange">;
}

/** A command's screen and its activity. */
export class PtyView {
  #screen: Screen;
  #tracker: ActivityTracker;
  /**
   * Writes are parsed in order; the last of those made so far is followed
   * by a reclassification.
   */
  #writes: Promise<void> = Promise.resolve();
  /** Writes made and not parsed yet. */
  #unparsed = 0;
  /** Reclassifications after writes so far. */
  #classified = 0;
  #disposed = false;

  /** @throws {RangeError} For a size out of range or an unknown type. */
  constructor(options: PtyViewOptions) {
    this.#screen = new Screen(options.cols, options.rows);
    const onReply = options.onReply;
    if (onReply) {
      this.#screen.onReply((data) => {
        if (!this.#disposed) onReply(data);
      });
    }
    this.#tracker = new ActivityTracker(this.#screen, {
      ...options.tracker,
      type: options.type,
      onChange: (state) => {
        if (!this.#disposed) options.onChange(state);
      },
    });
  }

  /** How many times the screen was read again after writes (diagnostics). */
  get classifications(): number {
    return this.#classified;
  }

  /** The tracker's current verdict. */
  get state(): ActivityState {
    return this.#tracker.state;
  }

  /**
   * Output of the command, as the terminal produced it; `seq` is the output
   * chunk it was sent in (the seq a later {@link snapshot} covers).
   */
  write(text: string, seq?: number): void {
    if (this.#disposed) return;
    this.#unparsed++;
    this.#step(async () => {
      try {
        await this.#screen.write(text, seq);
      } finally {
        // Reclassify once the screen has caught up with every write made so
        // far: a run of chunks costs one read of the screen, not one each.
        if (--this.#unparsed === 0) {
          this.#classified++;
          this.#tracker.update();
        }
      }
    });
  }

  /**
   * The screen after every write made so far (taken after them, before any
   * later one), with as much scrollback as fits the protocol's snapshot
   * limit; null when disposed, before any output, for a grid the protocol
   * cannot carry, or when even the bare screen is too large.
   */
  snapshot(): Promise<ScreenSnapshot | null> {
    return new Promise((resolve) => {
      this.#step(() => {
        resolve(this.#disposed ? null : fitSnapshot(this.#screen));
      });
      // A failed step resolves nothing: resolve null after the chain.
      this.#writes.then(() => resolve(null));
    });
  }

  /** The PTY was resized: the screen takes the same grid. */
  resize(cols: number, rows: number): void {
    if (this.#disposed) return;
    this.#step(() => {
      this.#screen.resize(cols, rows);
      this.#tracker.update();
    });
  }

  /**
   * Run `fn` after the pending steps. A step that fails (a size the screen
   * refuses) is skipped; the ones after it still run.
   */
  #step(fn: () => void | Promise<void>): void {
    this.#writes = this.#writes.then(fn).catch(() => {});
  }

  /** Stop tracking; no `onChange` and no snapshot from now on. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#tracker.dispose();
    // Pending writes finish against a disposed screen (they are ignored).
    void this.#writes.finally(() => this.#screen.dispose());
  }
}

/** `screen`'s snapshot within the size limits (see {@link PtyView.snapshot}). */
function fitSnapshot(screen: Screen): ScreenSnapshot | null {
  if (
    screen.seq === 0 || screen.cols > TERMINAL_SIZE.maxCols ||
    screen.rows > TERMINAL_SIZE.maxRows
  ) return null;
  for (const scrollback of SNAPSHOT_SCROLLBACKS) {
    const snapshot = screen.snapshot({ scrollback });
    if (
      byteLength(snapshot.data) <= LIMITS.maxSnapshotBytes &&
      byteLength(JSON.stringify(snapshot.data)) <= LIMITS.maxFrameBytes / 2
    ) return snapshot;
  }
  return null;
}
