import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";
import { originRefusal } from "../../lib/server/audit.ts";
import { refuseCrossOrigin } from "../../lib/server/http_security.ts";
import { DashboardSession } from "../../lib/server/dashboard_session.ts";
import { tooManyConnections } from "../../lib/server/services.ts";

/**
 * `GET /api/events`: the dashboard stream over Server-Sent Events, for
 * clients that cannot hold a WebSocket. Honours `Last-Event-ID`. A foreign
 * `Origin` is refused with 403, as for the dashboard socket; a new session
 * over the user's or the address's connection cap gets 429.
 */
export const handler: Handlers<unknown, AppState> = {
  GET(req, ctx) {
    const { app, user } = ctx.state;
    const crossOrigin = refuseCrossOrigin(req, app.config);
    if (crossOrigin) {
      app.audit.refusal(originRefusal(req, ctx.remoteAddr.hostname, user));
      return crossOrigin;
    }
    const { stream, refused } = app.sse.open(
      user!,
      req.headers.get("last-event-id"),
      (peer) => new DashboardSession(peer, app, user, ctx.remoteAddr.hostname),
      ctx.remoteAddr.hostname,
    );
    if (refused) {
      app.audit.refusal({
        actor: user!.id,
        role: user!.role,
        address: ctx.remoteAddr.hostname,
        connectionId: null,
        action: "access.refused",
        target: { path: "/api/events" },
        outcome: "refused",
        detail: { reason: "rate", message: refused },
      });
      return tooManyConnections(refused);
    }
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  },
};
