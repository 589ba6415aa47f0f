import type { Handlers } from "$fresh/server.ts";
import type { State } from "../_middleware.ts";

/** Fixture JSON endpoint: GET and POST only. */
export const handler: Handlers<unknown, State> = {
  GET(_req, ctx) {
    return Response.json({ ok: true, trail: ctx.state.trail });
  },
  POST() {
    return new Response(null, { status: 204 });
  },
};
