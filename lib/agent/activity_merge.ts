/**
 * One activity from two sources: the screen ({@link ActivityTracker}'s
 * verdicts) and a program's own precise signals (Claude Code's hooks, see
 * `claude_hooks.ts`).
 *
 * Precedence: the newer observation wins.
 * - A hook event applies at once (no quiescence wait) and holds until the
 *   program draws something after it and the screen's verdict then changes
 *   to a different activity: a screen that moved on after the event (the
 *   operator pressed Esc at a permission dialog, which sends no hook) is
 *   newer news, while a verdict that only settled late (the screen waits
 *   for quiescence) on frames drawn before the event is not.
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
 * onOutput = (text) => { merge.output(); view.write(text); };
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
  /** Whether the program wrote output since the last hook event. */
  #drawnSinceHook = false;
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

  /** The program wrote output (call before the screen applies it). */
  output(): void {
    if (this.#hook) this.#drawnSinceHook = true;
  }

  /** The screen's verdict changed to `state`. */
  screen(state: ActivityState): void {
    this.#screen = state;
    const hook = this.#hook;
    if (hook && state.activity !== hook.activity) {
      const overturned = state.activity === "stalled"
        ? hook.activity === "working"
        : this.#drawnSinceHook;
      if (overturned) this.#hook = null;
    }
    this.#onChange(this.state);
  }

  /** A precise signal from the program said `state`. */
  hook(state: ActivityState): void {
    this.#hook = state;
    this.#drawnSinceHook = false;
    this.#onChange(this.state);
  }
}
