/**
 * Who controls an agent's live terminal, from this tab's point of view, and
 * what the Terminal island offers for it; plus the fleet's attention
 * (activity labels, the needs-input count in the tab title, quick answers).
 * Pure; no DOM here.
 * @module
 */
import type { Activity, AgentInfo, Role } from "../protocol.ts";

/** Holder of an agent's terminal as `session:controller` announces it. */
export type Holder = { userId: string; connectionId: string } | null;

/** What the control line of the Terminal island shows. */
export interface ControlView {
  /** `mine`: this tab holds control; `other`: another connection; `free`. */
  state: "mine" | "other" | "free";
  /** Human text: "You have control", "alice has control", "No one has control". */
  text: string;
  /** The button offered, or null (viewers, operators while someone else holds it). */
  action: "take" | "release" | "takeover" | null;
}

/**
 * The control line for `holder` seen by connection `connectionId` of a user
 * with `role`, or null while `role` is (before the first `connection:ack`):
 * which button to offer is not known yet, so no line shows rather than one
 * whose button appears later. Operators and admins may take free control
 * and release their own; only admins take over from others.
 */
export function controlView(
  holder: Holder | undefined,
  connectionId: string | null,
  role: Role | null,
): ControlView | null {
  if (role === null) return null;
  const canControl = role === "operator" || role === "admin";
  if (holder && connectionId !== null && holder.connectionId === connectionId) {
    return { state: "mine", text: "You have control", action: "release" };
  }
  if (holder) {
    return {
      state: "other",
      text: `${holder.userId} has control`,
      action: role === "admin" ? "takeover" : null,
    };
  }
  return {
    state: "free",
    text: "No one has control",
    action: canControl ? "take" : null,
  };
}

/** Short human text for an error code answering this tab's terminal requests. */
export function controlErrorText(code: string, message = ""): string {
  switch (code) {
    case "NOT_CONTROLLER":
      return "Someone else has control of this terminal.";
    case "AGENT_OFFLINE":
      return "The agent is offline.";
    case "NOT_FOUND":
      return /runs no command/i.test(message)
        ? "The agent runs no command to type into."
        : "No such agent.";
    case "FORBIDDEN":
      return "Your role may not type into terminals.";
    case "RATE_LIMIT":
      return "Typing too fast; some input was refused.";
    case "PAYLOAD_TOO_LARGE":
      return "That paste is too large.";
    default:
      return message || code;
  }
}

/** Label and icon of each activity (icon is decorative, the label is the text). */
export const ACTIVITY_LABELS: Record<Activity, { text: string; icon: string }> =
  {
    "needs-input": { text: "needs input", icon: "?" },
    stalled: { text: "stalled", icon: "!" },
    waiting: { text: "waiting", icon: "…" },
    working: { text: "working", icon: "" },
  };

/** How many agents need input (offline agents do not count). */
export function needsInputCount(agents: Iterable<AgentInfo>): number {
  let n = 0;
  for (const a of agents) {
    if (a.status !== "offline" && a.activity === "needs-input") n++;
  }
  return n;
}

/** `title` with a leading "(n) " count, replacing any count already there. */
export function countedTitle(title: string, count: number): string {
  const base = title.replace(/^\(\d+\) /, "");
  return count > 0 ? `(${count}) ${base}` : base;
}

/** One quick-answer button: its label and the exact data it types. */
export interface QuickKey {
  label: string;
  data: string;
}

/**
 * Quick answers for a needs-input agent: its `options` ("1. Yes" types "1"),
 * then Enter, Esc, Ctrl-C, y and n.
 */
export function quickKeys(agent: AgentInfo | undefined): QuickKey[] {
  const keys: QuickKey[] = (agent?.options ?? []).map((o) => ({
    label: `${o.key}. ${o.label}`,
    data: o.key,
  }));
  keys.push(
    { label: "Enter", data: "\r" },
    { label: "Esc", data: "\x1b" },
    { label: "Ctrl-C", data: "\x03" },
    { label: "y", data: "y" },
    { label: "n", data: "n" },
  );
  return keys;
}

/**
 * `data` cut into pieces of at most `maxChars` UTF-16 units (so each stays
 * under the server's input byte limit), never splitting a surrogate pair.
 */
export function inputChunks(data: string, maxChars = 16 * 1024): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < data.length) {
    let end = Math.min(i + maxChars, data.length);
    const last = data.charCodeAt(end - 1);
    if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push(data.slice(i, end));
    i = end;
  }
  return out;
}
