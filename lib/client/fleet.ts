/**
 * The fleet overview's logic: its filters (kept in the page's URL), the
 * stable order of the agents (by name, pinned ones first; never by status),
 * what each card says about the last command, and which agents need
 * attention. Pure; no DOM here.
 * @module
 */
import {
  type AgentInfo,
  type CommandInfo,
  FINAL_STATUSES,
} from "../protocol.ts";

/** The state filter: every agent, or one group. */
export const STATE_FILTERS = [
  "all",
  "attention",
  "busy",
  "failed",
  "offline",
] as const;
export type StateFilter = typeof STATE_FILTERS[number];

/** Labels of the state filters, as the filter bar says them. */
export const STATE_LABELS: Record<StateFilter, string> = {
  all: "All",
  attention: "Needs attention",
  busy: "Busy",
  failed: "Failed",
  offline: "Offline",
};

/** The overview's filters; `type` and `tag` are null for "any". */
export interface FleetFilter {
  state: StateFilter;
  type: string | null;
  tag: string | null;
}

/** No filter: every agent. */
export const NO_FILTER: FleetFilter = { state: "all", type: null, tag: null };

/**
 * The filters named by a query string (`?state=failed&type=shell&tag=gpu`);
 * an unknown state, or an empty or overlong value, is ignored.
 */
export function parseFilter(search: string | URLSearchParams): FleetFilter {
  const params = typeof search === "string"
    ? new URLSearchParams(search)
    : search;
  const state = params.get("state");
  const value = (name: string) => {
    const v = params.get(name);
    return v && v.length <= 64 ? v : null;
  };
  return {
    state: (STATE_FILTERS as readonly string[]).includes(state ?? "")
      ? state as StateFilter
      : "all",
    type: value("type"),
    tag: value("tag"),
  };
}

/**
 * `search` with the filter's parameters set (left out when "any"), other
 * parameters kept: the query string to put in the URL, `""` or `?…`.
 */
export function filterSearch(filter: FleetFilter, search = ""): string {
  const params = new URLSearchParams(search);
  for (const name of ["state", "type", "tag"]) params.delete(name);
  if (filter.state !== "all") params.set("state", filter.state);
  if (filter.type) params.set("type", filter.type);
  if (filter.tag) params.set("tag", filter.tag);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** How a card shows the outcome of an agent's last finished command. */
export interface LastResult {
  commandId: string;
  /** The command's final status (`completed`, `failed`, …). */
  status: CommandInfo["status"];
  exitCode: number | null;
  completedAt: number | null;
  /** `ok` (completed), `bad` (failed, timed out, lost), `neutral` (stopped by someone). */
  tone: "ok" | "bad" | "neutral";
  command: string;
}

/** Statuses of commands stopped on purpose, neither success nor failure. */
const NEUTRAL = new Set(["interrupted", "cancelled"]);

/**
 * The last finished command of each agent in `commands` (exec commands and
 * prompts; a session record's end is `AgentInfo.ended`), by completion time.
 */
export function lastResults(
  commands: Iterable<CommandInfo>,
): Map<string, LastResult> {
  const results = new Map<string, LastResult>();
  for (const c of commands) {
    if (!FINAL_STATUSES.has(c.status) || c.kind === "session") continue;
    const at = c.completedAt ?? c.requestedAt;
    const before = results.get(c.agentId);
    if (before && (before.completedAt ?? 0) > at) continue;
    results.set(c.agentId, {
      commandId: c.id,
      status: c.status,
      exitCode: c.exitCode,
      completedAt: at,
      tone: c.status === "completed"
        ? "ok"
        : NEUTRAL.has(c.status)
        ? "neutral"
        : "bad",
      command: c.command,
    });
  }
  return results;
}

/** Whether an agent's program asks for a person: a question, a stall, a failed session. */
export function needsAttention(agent: AgentInfo): boolean {
  if (agent.status === "offline") return false;
  return agent.activity === "needs-input" || agent.activity === "stalled" ||
    (agent.currentCommandId === null && agent.ended?.status === "failed");
}

/** Whether an agent's last command (or its ended session) failed. */
export function hasFailed(
  agent: AgentInfo,
  last: LastResult | undefined,
): boolean {
  const sessionFailed = agent.currentCommandId === null &&
    agent.ended !== undefined && agent.ended.status !== "completed" &&
    !NEUTRAL.has(agent.ended.status);
  return last?.tone === "bad" || sessionFailed;
}

/** Whether `agent` passes `filter`. */
export function matchesFilter(
  agent: AgentInfo,
  filter: FleetFilter,
  last: LastResult | undefined,
): boolean {
  if (filter.type !== null && agent.type !== filter.type) return false;
  if (filter.tag !== null && !(agent.tags ?? []).includes(filter.tag)) {
    return false;
  }
  switch (filter.state) {
    case "all":
      return true;
    case "attention":
      return needsAttention(agent);
    case "busy":
      return agent.status === "busy";
    case "failed":
      return hasFailed(agent, last);
    case "offline":
      return agent.status === "offline";
  }
}

/**
 * Agents in a stable order: those in `pinned` first, in pin order, then the
 * rest by name (then id). Status never moves an agent.
 */
export function stableOrder(
  agents: Iterable<AgentInfo>,
  pinned: readonly string[] = [],
): AgentInfo[] {
  const rank = new Map(pinned.map((id, i) => [id, i]));
  return [...agents].sort((a, b) => {
    const pa = rank.get(a.id) ?? Infinity;
    const pb = rank.get(b.id) ?? Infinity;
    if (pa !== pb) return pa < pb ? -1 : 1;
    return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  });
}

/** The types and the tags the agents have, sorted, for the filter menus. */
export function filterChoices(
  agents: Iterable<AgentInfo>,
): { types: string[]; tags: string[] } {
  const types = new Set<string>();
  const tags = new Set<string>();
  for (const a of agents) {
    types.add(a.type);
    for (const t of a.tags ?? []) tags.add(t);
  }
  return { types: [...types].sort(), tags: [...tags].sort() };
}

/** Most agents kept pinned. */
export const MAX_PINNED = 100;

/** Parse the pinned list as stored (a JSON array of ids); bad input is none. */
export function parsePinned(text: string | null): string[] {
  if (!text) return [];
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value)) return [];
    return [
      ...new Set(
        value.filter((v): v is string =>
          typeof v === "string" && v.length > 0 && v.length <= 128
        ),
      ),
    ].slice(0, MAX_PINNED);
  } catch {
    return [];
  }
}

/** `pinned` with `id` added at the end, or removed when it was there. */
export function togglePinned(pinned: readonly string[], id: string): string[] {
  return pinned.includes(id)
    ? pinned.filter((p) => p !== id)
    : [...pinned, id].slice(-MAX_PINNED);
}

/** "4 s", "3 m", "2 h", "5 d": how long an agent has been as it is. */
export function shortAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

/** The words for the outcome of a last command: "Failed (exit 3)". */
export function resultText(last: LastResult): string {
  const words = last.status === "completed"
    ? "Succeeded"
    : last.status[0].toUpperCase() + last.status.slice(1).replace(/-/g, " ");
  return last.exitCode !== null && last.status !== "completed"
    ? `${words} (exit ${last.exitCode})`
    : words;
}
