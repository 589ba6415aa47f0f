import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../../../lib/server/app.ts";
import { openLog, windowQuery } from "../../../../lib/server/command_log.ts";
import {
  errorResponse,
  FlightdeckError,
} from "../../../../lib/server/errors.ts";
import { windowBody } from "../../../../lib/server/log_lines.ts";

/**
 * `GET /api/commands/:id/lines?from=N&count=M` (any signed-in role): a
 * window of the command's log by line (1-based; a prompt: its turn, numbered
 * as in its session), with escape sequences kept, which lines hold stderr,
 * and the style (SGR parameters) in effect at the first line's start. See
 * docs/protocol.md
 * "Command logs". 400 INVALID_MESSAGE for a bad number, 404 NOT_FOUND for an
 * unknown command.
 */
export const handler: Handlers<unknown, AppState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    try {
      const { from, count } = windowQuery(ctx.url.searchParams);
      const log = await openLog(app, ctx.params.id);
      return Response.json(
        await windowBody(app.storage.output, log, from - 1, count),
        { headers: { "cache-control": "no-store" } },
      );
    } catch (error) {
      if (!(error instanceof FlightdeckError)) throw error;
      return errorResponse(error.code, error.message);
    }
  },
};
