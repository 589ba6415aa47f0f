/**
 * What the Terminal island shows: which commands are in view and the text
 * (header line + cached output) written for each. Pure; no xterm here.
 * @module
 */
import type { CommandInfo } from "../protocol.ts";
import { exitText, statusLabel } from "./format.ts";
import { QUIET } from "./quiet.ts";

export { QUIET };

/** Colors of the dashboard's terminals (GitHub dark). */
export const TERMINAL_THEME = {
  background: "#0d1117",
  foreground: "#c9d1d9",
  cursor: "#c9d1d9",
  selectionBackground: "#264f78",
  black: "#484f58",
  red: "#ff7b72",
  green: "#3fb950",
  yellow: "#d29922",
  blue: "#58a6ff",
  magenta: "#bc8cff",
  cyan: "#39c5cf",
  white: "#b1bac4",
  brightBlack: "#6e7681",
  brightRed: "#ffa198",
  brightGreen: "#56d364",
  brightYellow: "#e3b341",
  brightBlue: "#79c0ff",
  brightMagenta: "#d2a8ff",
  brightCyan: "#56d4dd",
  brightWhite: "#f0f6fc",
} as const;

/** Commands shown at most when following an agent. */
export const VIEW_LIMIT = 10;

/**
 * `text` made safe to write to a terminal as one line: line breaks become
 * `⏎`, other C0 controls and DEL caret notation (`^[`, `^G`, `^?`), C1
 * controls `M-^[`-style, so escape sequences typed by one operator are shown,
 * never executed, in every other operator's terminal.
 */
export function visibleControls(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex -- finding control characters is the point
    /\r\n|[\x00-\x1f\x7f-\x9f]/g,
    (c) => {
      if (c === "\r\n" || c === "\n") return "⏎";
      const code = c.charCodeAt(0);
      if (code === 0x7f) return "^?";
      if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
      return `M-^${String.fromCharCode(code - 0x80 + 0x40)}`;
    },
  );
}

/** The header line written before a command's output: `$ command`, bold and quiet. */
export function commandHeader(
  command: CommandInfo | undefined,
  commandId: string,
): string {
  const text = visibleControls(command?.command ?? commandId);
  return `\x1b[1m${QUIET}$ ${text}\x1b[0m\r\n`;
}

/** Footer written after a finished command's output, or `""`. */
export function commandFooter(command: CommandInfo | undefined): string {
  if (!command || command.status === "queued" || command.status === "running") {
    return "";
  }
  const exit = exitText(command);
  const code = exit === "" ? "" : ` (${exit})`;
  const by = command.endedBy ? ` by ${command.endedBy.actor}` : "";
  const color = command.status === "completed"
    ? 32
    : command.status === "failed"
    ? 31
    : 33;
  const label = statusLabel(command.status);
  // Only text: who ended it is a user name, never escape sequences. Not dim
  // (SGR 2): xterm draws dim at half opacity, under 4.5:1.
  return `\x1b[${color}m[${visibleControls(`${label}${by}${code}`)}]` +
    `\x1b[0m\r\n`;
}

function startOf(c: CommandInfo): number {
  return c.startedAt ?? c.requestedAt;
}

/**
 * Ids of the commands in view, oldest first: one `commandId` when a command is
 * selected, else the last {@link VIEW_LIMIT} started commands of `agentId`
 * (prompts only when selected: their output is part of their session's).
 */
export function viewCommandIds(
  commands: Iterable<CommandInfo>,
  agentId: string | null,
  commandId: string | null,
  limit: number = VIEW_LIMIT,
): string[] {
  if (commandId !== null) return [commandId];
  if (agentId === null) return [];
  const started: CommandInfo[] = [];
  for (const c of commands) {
    if (
      c.agentId === agentId && c.status !== "queued" && c.kind !== "prompt" &&
      c.status !== "cancelled" &&
      !(c.status === "interrupted" && c.startedAt === null)
    ) {
      started.push(c);
    }
  }
  started.sort((a, b) => startOf(a) - startOf(b) || (a.id < b.id ? -1 : 1));
  return started.slice(-limit).map((c) => c.id);
}

/** Whether output of `agentId`/`commandId` belongs to the current view. */
export function isInView(
  view: { agentId: string | null; commandId: string | null },
  event: { agentId: string; commandId: string },
): boolean {
  if (view.commandId !== null) return event.commandId === view.commandId;
  return view.agentId !== null && event.agentId === view.agentId;
}

/** What the terminal does once a (re)connection's snapshot has arrived. */
export interface ResyncPlan {
  /** The commands in view changed (started or finished while away): redraw. */
  rerender: boolean;
  /** Commands in view without cached output, to fetch from the start. */
  fetch: string[];
}

/**
 * Compare the commands in view now (`ids`, oldest first) with the ones
 * drawn (`written`, in drawing order): a different list means a redraw
 * (which fetches what is missing itself); else fetch shown commands that
 * have no cached output (e.g. drawn when they started, quiet since).
 */
export function planResync(
  ids: readonly string[],
  written: Iterable<string>,
  hasOutput: (commandId: string) => boolean,
): ResyncPlan {
  const drawn = [...written];
  const same = drawn.length === ids.length &&
    ids.every((id, i) => drawn[i] === id);
  if (!same) return { rerender: true, fetch: [] };
  return { rerender: false, fetch: ids.filter((id) => !hasOutput(id)) };
}

/**
 * Older output (`terminal:earlier` pages) as it can be shown above a
 * screen snapshot: sequences that would clear the scrollback (`CSI 3 J`)
 * or reset the whole terminal (`ESC c`) are left out, so the history they
 * once cleared stays readable there.
 */
export function historyText(text: string): string {
  // deno-lint-ignore no-control-regex -- the escape sequences are the point
  return text.replace(/\x1b\[3J|\x1bc/g, "");
}

/**
 * A byte count for people, in decimal units: `512 B`, `4.1 kB`, `83.2 MB`,
 * `1.2 GB`.
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 999.95 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Where the full log of `commandId` is (linked from the skipped and
 * truncated notices): its log page, through `/commands/:id`, which
 * redirects to `/agents/:agent/commands/:id`.
 */
export function fullLogUrl(commandId: string): string {
  return `/commands/${encodeURIComponent(commandId)}`;
}

/**
 * The dim line written where the live view skipped `bytes` of output (the
 * tab could not draw as fast as it arrived), on a line of its own; the full
 * log is linked above the terminal.
 */
export function skipMarker(bytes: number, atLineStart: boolean): string {
  return `${atLineStart ? "" : "\r\n"}\x1b[0m${QUIET}[… ${
    formatBytes(bytes)
  } not shown, full log above]\x1b[0m\r\n`;
}
