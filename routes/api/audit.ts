import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";
import { roleAllows } from "../../lib/server/auth.ts";
import { errorResponse } from "../../lib/server/errors.ts";
import { encodeCursor, parseAuditQuery } from "../../lib/server/audit_query.ts";

/** Entries per page of a `format=jsonl` export (it streams every page). */
const EXPORT_PAGE = 1000;

/**
 * `GET /api/audit` (admin): the audit trail, newest first, filtered by
 * `actor`, `action`, `agent`, `from`/`to`, paged by `cursor` (`limit`
 * entries, default 100): `{"entries": AuditEntry[], "cursor": string|null}`.
 * `format=jsonl` streams every matching entry as JSON lines (for a SIEM).
 * Bad parameters: 400 INVALID_MESSAGE; other roles: 403, recorded.
 */
export const handler: Handlers<unknown, AppState> = {
  async GET(_req, ctx) {
    const { app, user } = ctx.state;
    const address = ctx.remoteAddr.hostname;
    if (!user || !roleAllows(user.role, "admin")) {
      app.audit.refusal({
        actor: user?.id ?? null,
        role: user?.role ?? null,
        address,
        connectionId: null,
        action: "audit.read",
        target: { path: "/api/audit" },
        outcome: "refused",
        detail: { reason: "role" },
      });
      return errorResponse(
        "FORBIDDEN",
        `Role "${
          user?.role ?? "none"
        }" may not read the audit trail; it needs "admin"`,
      );
    }
    const parsed = parseAuditQuery(ctx.url.searchParams);
    if (!parsed.ok) return errorResponse("INVALID_MESSAGE", parsed.message);
    const { query, format } = parsed;
    const store = app.audit.store;
    if (format === "json") {
      const page = await store.list(query);
      return Response.json({
        entries: page.entries,
        cursor: page.cursor ? encodeCursor(page.cursor) : null,
      });
    }
    const encoder = new TextEncoder();
    let cursor = query.cursor;
    let done = false;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (done) return controller.close();
        const page = await store.list({ ...query, cursor, limit: EXPORT_PAGE });
        const text = page.entries.map((e) => JSON.stringify(e) + "\n").join("");
        if (text) controller.enqueue(encoder.encode(text));
        if (page.cursor) cursor = page.cursor;
        else done = true;
        if (done) controller.close();
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "application/x-ndjson; charset=utf-8",
        "content-disposition": 'attachment; filename="flightdeck-audit.jsonl"',
      },
    });
  },
};
