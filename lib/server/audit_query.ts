/**
 * Query strings of `GET /api/audit` and `/admin/audit`: filters, cursor,
 * page size and format, checked strictly (an unknown parameter, a bad
 * cursor, a bad time or a range over {@link MAX_RANGE_MS} is an error).
 *
 * @module
 */
import {
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditCursor,
  type AuditQuery,
} from "./audit.ts";

/** Parameters the audit endpoints accept. */
export const AUDIT_PARAMS = [
  "actor",
  "action",
  "agent",
  "from",
  "to",
  "cursor",
  "limit",
  "format",
] as const;

/** Longest time range one query may name: 366 days. */
export const MAX_RANGE_MS = 366 * 86400_000;
/** Entries per page by default and at most. */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** A parsed query, or why it is refused. */
export type ParsedAuditQuery =
  | { ok: true; query: AuditQuery; format: "json" | "jsonl" }
  | { ok: false; message: string };

/** The text form of `cursor` (opaque to clients). */
export function encodeCursor(cursor: AuditCursor): string {
  return `${cursor.time.toString(36)}.${cursor.id}`;
}

function decodeCursor(text: string): AuditCursor | null {
  const match = /^([0-9a-z]{1,12})\.([0-9a-f]{12}-[0-9a-f]{8})$/.exec(text);
  if (!match) return null;
  const time = parseInt(match[1], 36);
  if (!Number.isSafeInteger(time)) return null;
  return { time, id: match[2] };
}

/** A time as milliseconds since the epoch or an ISO 8601 date. */
function parseTime(text: string): number | null {
  if (/^\d{1,16}$/.test(text)) {
    const ms = Number(text);
    return Number.isSafeInteger(ms) ? ms : null;
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    return null;
  }
  const ms = Date.parse(text);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

/** Parse `params`; `now` bounds an open-ended range. */
export function parseAuditQuery(
  params: URLSearchParams,
  now = Date.now(),
): ParsedAuditQuery {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!(AUDIT_PARAMS as readonly string[]).includes(name)) {
      return {
        ok: false,
        message: `Unknown filter "${name}"; use ${AUDIT_PARAMS.join(", ")}`,
      };
    }
    if (seen.has(name)) {
      return { ok: false, message: `Filter "${name}" given twice` };
    }
    seen.add(name);
  }
  // Empty values (an empty form field) mean "no filter".
  const get = (name: string) => params.get(name)?.trim() || undefined;
  const query: AuditQuery = { limit: DEFAULT_LIMIT };
  const actor = get("actor");
  if (actor !== undefined) {
    if (actor.length > 128) return { ok: false, message: "actor is too long" };
    query.actor = actor;
  }
  const action = get("action");
  if (action !== undefined) {
    if (!(AUDIT_ACTIONS as readonly string[]).includes(action)) {
      return {
        ok: false,
        message: `Unknown action "${action.slice(0, 64)}"; one of ${
          AUDIT_ACTIONS.join(", ")
        }`,
      };
    }
    query.action = action as AuditAction;
  }
  const agent = get("agent");
  if (agent !== undefined) {
    if (agent.length > 64) return { ok: false, message: "agent is too long" };
    query.agentId = agent;
  }
  for (const name of ["from", "to"] as const) {
    const text = get(name);
    if (text === undefined) continue;
    const time = parseTime(text);
    if (time === null) {
      return {
        ok: false,
        message: `Invalid ${name} "${
          text.slice(0, 64)
        }": milliseconds since the epoch or an ISO 8601 date`,
      };
    }
    query[name] = time;
  }
  if (query.from !== undefined && query.to !== undefined) {
    if (query.from >= query.to) {
      return { ok: false, message: "from must be before to" };
    }
  }
  if (query.from !== undefined) {
    const end = query.to ?? now;
    if (end - query.from > MAX_RANGE_MS) {
      return {
        ok: false,
        message: `Range over ${
          MAX_RANGE_MS / 86400_000
        } days; narrow from/to or page with the cursor`,
      };
    }
  }
  const cursor = get("cursor");
  if (cursor !== undefined) {
    const decoded = decodeCursor(cursor);
    if (!decoded) {
      return { ok: false, message: `Invalid cursor "${cursor.slice(0, 64)}"` };
    }
    query.cursor = decoded;
  }
  const limit = get("limit");
  if (limit !== undefined) {
    const n = /^\d{1,5}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= MAX_LIMIT)) {
      return {
        ok: false,
        message: `Invalid limit "${limit.slice(0, 16)}": 1 to ${MAX_LIMIT}`,
      };
    }
    query.limit = n;
  }
  const format = get("format") ?? "json";
  if (format !== "json" && format !== "jsonl") {
    return {
      ok: false,
      message: `Invalid format "${format.slice(0, 16)}": json or jsonl`,
    };
  }
  return { ok: true, query, format };
}
