import type { FreshContext } from "$fresh/server.ts";
import type { State } from "../_middleware.ts";

/** Records "agents" twice, showing that arrays run in order. */
export const handler = [
  (_req: Request, ctx: FreshContext<State>) => {
    ctx.state.trail.push("agents1");
    return ctx.next();
  },
  (_req: Request, ctx: FreshContext<State>) => {
    ctx.state.trail.push("agents2");
    return ctx.next();
  },
];
