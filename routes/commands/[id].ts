import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";

/**
 * `GET /commands/:id` (any signed-in role): 303 to the command's log page
 * `/agents/:agent/commands/:id` (a `#L12` fragment is kept by the browser),
 * or the 404 page for an unknown command.
 */
export const handler: Handlers<unknown, AppState> = {
  async GET(_req, ctx) {
    const record = await ctx.state.app.commands.get(ctx.params.id);
    if (!record) return ctx.renderNotFound();
    return new Response(null, {
      status: 303,
      headers: {
        location: `/agents/${encodeURIComponent(record.agentId)}/commands/${
          encodeURIComponent(record.id)
        }`,
      },
    });
  },
};
