import type { FreshContext } from "$fresh/server.ts";

/** Fixture state. */
export interface State {
  trail: string[];
}

/** Records "root", short-circuits on `?block`, tags the response. */
export async function handler(_req: Request, ctx: FreshContext<State>) {
  ctx.state.trail = [...(ctx.state.trail ?? []), "root"];
  if (ctx.url.searchParams.has("block")) {
    return new Response("blocked", { status: 403 });
  }
  const res = await ctx.next();
  res.headers.set("X-Trail", ctx.state.trail.join(","));
  res.headers.set("X-Destination", ctx.destination);
  return res;
}
