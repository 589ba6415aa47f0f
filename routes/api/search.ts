import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";
import { intParam, MAX_QUERY_CHARS } from "../../lib/server/command_log.ts";
import { errorResponse, FlightdeckError } from "../../lib/server/errors.ts";

/**
 * `GET /api/search?q=TEXT&limit=N` (any signed-in role): finished commands
 * whose text or output has a word starting with the query's longest word
 * (the search index, docs/protocol.md "Command logs"), each with the line of
 * that word's first occurrence and a link to it. 400 INVALID_MESSAGE for a
 * missing, too long or wordless query or a bad limit.
 */
export const handler: Handlers<unknown, AppState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    const params = ctx.url.searchParams;
    try {
      const q = params.get("q") ?? "";
      if (q.length > MAX_QUERY_CHARS) {
        throw new FlightdeckError(
          "INVALID_MESSAGE",
          `Query too long: ${q.length} characters, at most ${MAX_QUERY_CHARS}`,
        );
      }
      const limit = intParam("limit", params.get("limit"), 50, 1, 200);
      let hits;
      try {
        hits = await app.search.search(q, limit);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        throw new FlightdeckError("INVALID_MESSAGE", error.message);
      }
      return Response.json({
        q,
        hits: hits.map((h) => ({
          ...h,
          url: `/agents/${encodeURIComponent(h.agentId)}/commands/${
            encodeURIComponent(h.commandId)
          }${h.line > 0 ? `#L${h.line}` : ""}`,
        })),
      }, { headers: { "cache-control": "no-store" } });
    } catch (error) {
      if (!(error instanceof FlightdeckError)) throw error;
      return errorResponse(error.code, error.message);
    }
  },
};
