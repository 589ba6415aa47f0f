import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";
import { refuseCrossOrigin } from "../../lib/server/http_security.ts";
import { DashboardSession } from "../../lib/server/dashboard_session.ts";

/**
 * `GET /api/events`: the dashboard stream over Server-Sent Events, for
 * clients that cannot hold a WebSocket. Honours `Last-Event-ID`. A foreign
 * `Origin` is refused with 403, as for the dashboard socket.
 */
export const handler: Handlers<unknown, AppState> = {
  GET(req, ctx) {
    const { app, user } = ctx.state;
    const refused = refuseCrossOrigin(req, app.config);
    if (refused) return refused;
    const stream = app.sse.open(
      user!,
      req.headers.get("last-event-id"),
      (peer) => new DashboardSession(peer, app, user),
    );
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  },
};
