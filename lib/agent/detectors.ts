/**
 * What an AI CLI or a shell shows at the bottom of its screen, per agent type:
 * busy (a spinner with "esc to interrupt"), waiting at its input prompt, or
 * asking a question with numbered answers. {@link classifyScreen} reads the
 * last rows of a {@link ScreenView}, never raw bytes, so redraws, cursor moves
 * and colors do not matter. The patterns are grounded on the real screens in
 * `testdata/` (Gemini CLI 0.61, Codex CLI 0.171, Claude Code 2.1 with no
 * network) and on Claude Code's documented prompt, spinner and permission UI.
 *
 * @module
 */

/** The part of `Screen` a detector reads. */
export interface ScreenView {
  /** The last `n` non-empty visible rows, trimmed right. */
  lines(n: number): string[];
  /** The row the cursor is on, trimmed right. */
  cursorLine(): string;
  /** Cursor column and row within the visible screen. */
  cursor(): { x: number; y: number };
}

/** A quick answer parsed from the screen: the key to type and its label. */
export interface QuickAnswer {
  key: string;
  label: string;
}

/** Patterns of one agent type; each list matches if any pattern matches. */
export interface Detector {
  /** Working right now (spinner, "esc to interrupt"), read from the last rows. */
  busy: RegExp[];
  /** Idle at its input prompt, read from the last rows. */
  waiting: RegExp[];
  /** Waiting rows are matched against the cursor row only (shells). */
  waitingOnCursorLine?: boolean;
  /** Asks a question or a permission, read from the last rows. */
  input: RegExp[];
  /**
   * Two or more numbered answers 1, 2… also mean a question (default true).
   * When false (a user's `--input-pattern`), only an input pattern does, the
   * matching row is the question and answers are read below it.
   */
  optionsMeanInput?: boolean;
  /** A prompt-like cursor row after quiescence also means a question (exec). */
  promptAtCursor?: boolean;
}

/** Rows at the bottom read for busy and waiting patterns (the CLI's chrome). */
const CHROME_ROWS = 8;
/** Rows at the bottom read for a question and its numbered answers. */
const DIALOG_ROWS = 24;

/** Box-drawing borders and selection markers around a dialog's text. */
const BORDER = /^[\s│┃|▌]+|[\s│┃|▌]+$/g;
/** `❯ 1. Yes`, `● 1. Trust folder`, `> 1. Sign in`, `› 2. No (esc)`. */
const OPTION = /^(?:[❯›>●○◯*]\s*)?(\d{1,2})[.)]\s+(\S.*)$/;
/** A shell prompt: `$ `, `# `, `user@host:~/p$ `, `bash-5.2# `, `(venv) … % `. */
const SHELL_PROMPT =
  /^(?:\([^)]*\)\s*)?(?:[\w.-]+@[\w.-]+(?::[^\s$#%]*)?\s?|[\w.-]+-[\d.]+|~?[\w./~-]*\s)?[$#%❯]\s?/;
/** An input prompt row, not a selected numbered answer (`› 1. Yes`). */
const promptRow = (mark: string) =>
  new RegExp(`^[\\s│]*${mark}(?=\\s|$)(?!\\s*\\d{1,2}[.)]\\s)`);
/** A line that ends like a question for the operator (`read -p`, `[y/N]`). */
const PROMPT_LIKE = /(?:[?:>]|\[[yYnN]\/[yYnN]\]|\([yYnN]\/[yYnN]\))\s*$/;

/** Detectors shipped per agent type, plus `exec` for `--pty` commands. */
export const DETECTORS: Record<string, Detector> = {
  claude: {
    busy: [/\besc to interrupt\b/i, /^\s*[·✢✳✶✻✽]\s+\S+…/],
    waiting: [/\? for shortcuts/, promptRow(">")],
    input: [/^[\s│]*Do you want to .+\?/],
  },
  gemini: {
    busy: [/\(esc to cancel\b/i, /^\s*[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s/],
    waiting: [/\? for shortcuts/, promptRow(">")],
    input: [/^[\s│]*(?:Allow|Apply) .+\?[\s│]*$/, /\(Use Enter to select\)/],
  },
  codex: {
    busy: [/\besc to interrupt\b/i],
    waiting: [promptRow("›"), /\? for shortcuts/, /⏎ send/],
    input: [
      /^\s*Press enter to (?:continue|save)\b/i,
      /^\s*(?:Would you like|Allow) .+\?\s*$/,
    ],
  },
  shell: {
    busy: [],
    waiting: [SHELL_PROMPT],
    waitingOnCursorLine: true,
    input: [],
    promptAtCursor: true,
  },
  exec: {
    busy: [],
    waiting: [],
    waitingOnCursorLine: true,
    input: [],
    promptAtCursor: true,
  },
};

/** What {@link classifyScreen} saw. */
export type ScreenClass =
  | { kind: "busy" }
  | { kind: "waiting" }
  | { kind: "input"; attention: string; options: QuickAnswer[] }
  | { kind: "unknown" };

/** Strip a dialog row's borders and selection markers. */
function clean(line: string): string {
  return line.replace(BORDER, "");
}

/** The last run of numbered answers 1, 2, 3… in `lines`, in screen order. */
export function parseOptions(lines: string[]): QuickAnswer[] {
  const out: QuickAnswer[] = [];
  for (const line of lines) {
    const match = OPTION.exec(clean(line));
    if (!match) continue;
    out.push({ key: match[1], label: match[2].replace(/\s{2,}.*$/, "") });
  }
  // Answers are a run 1, 2, 3…: a stray "3. " line in the output is not one.
  const run: QuickAnswer[] = [];
  for (const option of out) {
    if (Number(option.key) === run.length + 1) run.push(option);
    else if (option.key === "1") run.splice(0, run.length, option);
  }
  return run.length >= 2 ? run : [];
}

/**
 * The question: above the last answer "1.", the nearest row ending in "?",
 * else the nearest non-empty row; with no answers, the matching row.
 */
function questionText(rows: string[], matched: number): string {
  const texts = rows.map(clean);
  const first = texts.findLastIndex((text) => OPTION.exec(text)?.[1] === "1");
  if (first < 0) return matched >= 0 ? texts[matched] : "";
  const asked = texts.slice(0, first).findLastIndex((t) => t.endsWith("?"));
  if (asked >= 0) return texts[asked];
  return texts.slice(0, first).findLast((text) => text !== "") ?? "";
}

function lastMatch(rows: string[], patterns: RegExp[]): number {
  for (let i = rows.length - 1; i >= 0; i--) {
    if (patterns.some((p) => p.test(rows[i]))) return i;
  }
  return -1;
}

/**
 * Classify what `screen` shows with `detector`: busy patterns first (a CLI
 * that works shows its spinner above its prompt), then the waiting prompt
 * (so a numbered list in the agent's answer above an idle prompt is not a
 * question), then a question: an input pattern or two or more numbered
 * answers 1, 2… at the bottom, or (for shells and exec) a prompt-like row
 * with the cursor at its end.
 */
export function classifyScreen(
  screen: ScreenView,
  detector: Detector,
): ScreenClass {
  const chrome = screen.lines(CHROME_ROWS);
  if (chrome.some((row) => detector.busy.some((p) => p.test(row)))) {
    return { kind: "busy" };
  }
  const cursorLine = screen.cursorLine();
  const waitingRows = detector.waitingOnCursorLine ? [cursorLine] : chrome;
  if (lastMatch(waitingRows, detector.waiting) >= 0) return { kind: "waiting" };
  const rows = screen.lines(DIALOG_ROWS);
  const matched = lastMatch(rows, detector.input);
  if (detector.optionsMeanInput === false) {
    if (matched >= 0) {
      const options = parseOptions(rows.slice(matched + 1));
      return { kind: "input", attention: clean(rows[matched]), options };
    }
  } else {
    const options = parseOptions(rows);
    if (matched >= 0 || options.length > 0) {
      return { kind: "input", attention: questionText(rows, matched), options };
    }
  }
  if (
    detector.promptAtCursor && PROMPT_LIKE.test(cursorLine) &&
    screen.cursor().x >= cursorLine.trimEnd().length
  ) {
    const yesNo = /[yY]\/[nN]/.test(cursorLine)
      ? [{ key: "y", label: "Yes" }, { key: "n", label: "No" }]
      : [];
    return { kind: "input", attention: cursorLine.trim(), options: yesNo };
  }
  return { kind: "unknown" };
}
