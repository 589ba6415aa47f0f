import type { FreshContext } from "$fresh/server.ts";

/** Fixture handler that renders the 404 page. */
export const handler = (_req: Request, ctx: FreshContext) =>
  ctx.renderNotFound();
