import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../../../lib/server/app.ts";
import {
  errorResponse,
  FlightdeckError,
} from "../../../../lib/server/errors.ts";
import { openRecording } from "../../../../lib/server/recording.ts";

/**
 * `GET /api/commands/:id/recording?format=cast|txt|raw&from=N&to=M` (any
 * signed-in role): the command's output (a prompt: its turn in its
 * session) as an asciicast v2 file, plain text or the raw output (with
 * escape sequences), streamed as a download.
 * 400 INVALID_MESSAGE for a bad format or range, 404 NOT_FOUND for an
 * unknown command.
 */
export const handler: Handlers<unknown, AppState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    const params = ctx.url.searchParams;
    try {
      const recording = await openRecording(
        {
          commands: app.commands,
          storage: app.storage,
          agentName: (id) => app.registry.get(id)?.name,
        },
        ctx.params.id,
        {
          format: params.get("format"),
          from: params.get("from"),
          to: params.get("to"),
        },
      );
      return new Response(recording.body, {
        headers: {
          "content-type": recording.contentType,
          "content-disposition": `attachment; filename="${recording.filename}"`,
          "cache-control": "no-store",
        },
      });
    } catch (error) {
      if (!(error instanceof FlightdeckError)) throw error;
      return errorResponse(error.code, error.message);
    }
  },
};
