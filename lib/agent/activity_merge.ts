/**
 * One activity from two sources: the screen ({@link ActivityTracker}'s
 * verdicts) and a program's own precise signals (Claude Code's hooks, see
 * `claude_hooks.ts`).
 *
 * Precedence: the newer observation wins.
 * - A hook event applies at once (no quiescence wait) and holds until the
 *   screen has applied output the program wrote after the event and its
 *   verdict then changes to a different activity: a screen that moved on
 *   after the event (the operator pressed Esc at a permission dialog, which
 *   sends no hook) is newer news, while a verdict on frames written before
 *   the event is not, even when the screen applies them (it takes output in
 *   batches, a few ms late) or settles on them (it waits for quiescence)
 *   after the event. Output is counted in characters: `output()` as the
 *   program writes, `drawn()` as the screen applies it, in the same order.
 * - A screen verdict that agrees with the hook keeps the hook's state; when
 *   both say `needs-input`, the hook's attention (its notification message)
 *   is shown with the quick answers parsed from the screen.
 * - `stalled` (working with no progress) from the screen does not override a
 *   hook's `needs-input` or `waiting`: a program blocked on a person or idle
 *   at its prompt is not stalled.
 *
 * @example
 * ```ts
 * const merge = new ActivityMerge(tracker.state, (state) => report(state));
 * onOutput = (text) => { merge.output(text.length); batch(text); };
 * onBatch = (text) => { merge.drawn(text.length); view.write(text); };
 * tracker.onChange = (state) => merge.screen(state);
 * hooks.onActivity = (state) => merge.hook(state);
 * ```
 *
 * @module
 */
import type { ActivityState } from "./activity.ts";

/** Combines screen verdicts and hook signals into one activity. */
export class ActivityMerge {
  #screen: ActivityState;
  #hook: ActivityState | null = null;
  /** Characters the program wrote, and the screen applied, so far. */
  #written = 0;
  #drawn = 0;
  /** `#written` when the last hook event came. */
  #writtenAtHook = 0;
  #onChange: (state: ActivityState) => void;

  /**
   * @param screen The screen's verdict now.
   * @param onChange Called with the combined state after each input (the
   * caller drops repeats).
   */
  constructor(
    screen: ActivityState,
    onChange: (state: ActivityState) => void,
  ) {
    this.#screen = screen;
    this.#onChange = onChange;
  }

  /** The combined state now. */
  get state(): ActivityState {
    const hook = this.#hook;
    if (!hook) return this.#screen;
    if (
      hook.activity === "needs-input" &&
      this.#screen.activity === "needs-input"
    ) {
      return { ...hook, options: this.#screen.options };
    }
    return hook;
  }

  /** The program wrote `length` characters (call as it writes them). */
  output(length: number): void {
    this.#written += length;
  }

  /**
   * The screen is about to apply the next `length` characters the program
   * wrote (call before it applies them).
   */
  drawn(length: number): void {
    this.#drawn += length;
  }

  /** The screen's verdict changed to `state`. */
  screen(state: ActivityState): void {
    this.#screen = state;
    const hook = this.#hook;
    if (hook && state.activity !== hook.activity) {
      const overturned = state.activity === "stalled"
        ? hook.activity === "working"
        : this.#drawn > this.#writtenAtHook;
      if (overturned) this.#hook = null;
    }
    this.#onChange(this.state);
  }

  /** A precise signal from the program said `state`. */
  hook(state: ActivityState): void {
    this.#hook = state;
    this.#writtenAtHook = this.#written;
    this.#onChange(this.state);
  }
}
