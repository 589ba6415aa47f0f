/**
 * How keys leave a controlled terminal. While this tab controls an agent's
 * terminal every key goes to the program, Tab and Esc included: Tab
 * completes in shells and Claude Code, Esc interrupts Claude Code and ends
 * insert mode in vim, so neither may be taken. To leave:
 *
 * - **Esc, then Tab** (within {@link ESC_TAB_MS}): the Esc still reaches the
 *   program (nothing is lost: vim is in normal mode, Claude Code stopped),
 *   and the Tab right after it moves the focus on (Shift+Tab: back) instead
 *   of being typed. Esc-Tab typed on purpose is rare (readline's M-Tab,
 *   vim's Ctrl-I jump); a Tab typed later than that goes to the program.
 *   Double Esc is not used: Claude Code gives it a meaning (edit an earlier
 *   message) and vim users press Esc twice out of habit.
 * - **Ctrl+]**, as in telnet: leaves for the terminal's control button.
 *
 * Pure; no DOM here.
 * @module
 */

/** Longest time from Esc to a Tab that leaves the terminal. */
export const ESC_TAB_MS = 1000;

/** What a key event of a controlled terminal does. */
export type KeyAction = "program" | "leave" | "leave-to-control";

/** The parts of a `KeyboardEvent` the decision reads. */
export interface KeyLike {
  type: string;
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
  timeStamp: number;
}

/** Remembers the last Esc of one terminal and decides each key (see the module doc). */
export class LeaveKeys {
  #escAt: number | null = null;

  /**
   * `program`: let the terminal type it; `leave`: do not type it, let the
   * browser move the focus (Tab); `leave-to-control`: do not type it, move
   * the focus to the control button (Ctrl+]).
   */
  decide(event: KeyLike): KeyAction {
    if (event.ctrlKey && event.key === "]") {
      this.#escAt = null;
      return "leave-to-control";
    }
    const plainTab = event.key === "Tab" && !event.ctrlKey &&
      !event.altKey && !event.metaKey;
    if (
      plainTab && this.#escAt !== null &&
      event.timeStamp - this.#escAt <= ESC_TAB_MS
    ) {
      // The keyup and keypress of the same Tab leave too.
      if (event.type === "keyup") this.#escAt = null;
      return "leave";
    }
    if (event.type === "keydown") {
      this.#escAt = event.key === "Escape" ? event.timeStamp : null;
    }
    return "program";
  }
}
