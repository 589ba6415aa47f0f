import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";

/** `GET /ws/agent`: the socket agents dial out to. */
export const handler: Handlers<unknown, AppState> = {
  GET: (req, ctx) => ctx.state.app.agentSocket(req, ctx.remoteAddr),
};
