import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../../../lib/server/app.ts";
import { openLog, windowQuery } from "../../../../lib/server/command_log.ts";
import {
  errorResponse,
  FlightdeckError,
} from "../../../../lib/server/errors.ts";
import { readWindow } from "../../../../lib/server/log_reader.ts";

/**
 * `GET /api/commands/:id/lines?from=N&count=M` (any signed-in role): a
 * window of the command's log by line (1-based; a prompt: its turn, numbered
 * as in its session), with escape sequences kept. See docs/protocol.md
 * "Command logs". 400 INVALID_MESSAGE for a bad number, 404 NOT_FOUND for an
 * unknown command.
 */
export const handler: Handlers<unknown, AppState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    try {
      const { from, count } = windowQuery(ctx.url.searchParams);
      const log = await openLog(app, ctx.params.id);
      const window = await readWindow(
        app.storage.output,
        log.sourceId,
        from - 1,
        count,
        log.bounds,
      );
      return Response.json({
        id: log.record.id,
        sourceId: log.sourceId,
        firstLine: log.bounds.start + 1,
        lastLine: log.bounds.end,
        removed: log.removed,
        lines: window.lines.map((l) => ({
          n: l.line + 1,
          text: l.text,
          ...(l.cut ? { cut: l.cut } : {}),
        })),
        gaps: window.gaps.map((g) => ({
          beforeLine: g.line + 1,
          fromSeq: g.fromSeq,
          toSeq: g.toSeq,
        })),
      }, { headers: { "cache-control": "no-store" } });
    } catch (error) {
      if (!(error instanceof FlightdeckError)) throw error;
      return errorResponse(error.code, error.message);
    }
  },
};
