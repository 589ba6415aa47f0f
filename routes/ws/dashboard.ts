import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";

/** `GET /ws/dashboard`: the operators' socket. */
export const handler: Handlers<unknown, AppState> = {
  GET: (req, ctx) => ctx.state.app.dashboardSocket(req, ctx.remoteAddr),
};
