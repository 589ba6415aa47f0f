import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";
import { PROTOCOL_VERSION } from "../../lib/protocol.ts";

/** `GET /api/health`: liveness for load balancers and scripts. */
export const handler: Handlers<unknown, AppState> = {
  GET: (_req, ctx) => {
    const { registry, dashboards } = ctx.state.app;
    return Response.json({
      status: "ok",
      protocolVersion: PROTOCOL_VERSION,
      agentsOnline: registry.onlineIds().length,
      dashboards: dashboards.size,
    });
  },
};
