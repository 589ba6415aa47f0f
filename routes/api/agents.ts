import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";

/** `GET /api/agents`: every known agent with its status. */
export const handler: Handlers<unknown, AppState> = {
  GET: (_req, ctx) => Response.json({ agents: ctx.state.app.registry.list() }),
};
