import type { Handlers } from "$fresh/server.ts";
import type { AppState } from "../../lib/server/app.ts";

/**
 * `GET /api/ready`: readiness for load balancers. 200 `{"status":"ready"}`
 * while the storage answers; 503 `{"status":"unavailable"}` while it does
 * not (with `FLIGHTDECK_REDIS_URL`: Redis unreachable or not answering PING
 * within 2 s). With Deno KV alone it is always ready.
 */
export const handler: Handlers<unknown, AppState> = {
  GET: async (_req, ctx) => {
    const ready = await ctx.state.app.storageReady();
    return Response.json(
      { status: ready ? "ready" : "unavailable" },
      { status: ready ? 200 : 503, headers: { "cache-control": "no-store" } },
    );
  },
};
