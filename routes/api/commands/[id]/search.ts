import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../../../lib/server/app.ts";
import { openLog, searchQuery } from "../../../../lib/server/command_log.ts";
import {
  errorResponse,
  FlightdeckError,
} from "../../../../lib/server/errors.ts";
import { searchLines } from "../../../../lib/server/log_reader.ts";

/**
 * `GET /api/commands/:id/search?q=TEXT&from=N&limit=M` (any signed-in
 * role): lines of the command's log from line `from` whose plain text
 * (escape sequences removed, `\r` applied) contains `q`, case-insensitive;
 * `next` is the line to continue from (the scan per request is bounded), or
 * null at the end. 400 INVALID_MESSAGE for a missing or too long query or a
 * bad number, 404 NOT_FOUND for an unknown command.
 */
export const handler: Handlers<unknown, AppState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    try {
      const { q, from, limit } = searchQuery(ctx.url.searchParams);
      const log = await openLog(app, ctx.params.id);
      const page = await searchLines(app.storage.output, log.sourceId, q, {
        from: from - 1,
        limit,
        bounds: log.bounds,
      });
      return Response.json({
        id: log.record.id,
        q,
        hits: page.hits.map((h) => ({ line: h.line + 1, text: h.text })),
        next: page.next === null ? null : page.next + 1,
      }, { headers: { "cache-control": "no-store" } });
    } catch (error) {
      if (!(error instanceof FlightdeckError)) throw error;
      return errorResponse(error.code, error.message);
    }
  },
};
