import type { FreshContext } from "$fresh/server.ts";

/** Fixture async page component. */
export default async function Later(_req: Request, ctx: FreshContext) {
  const word = await Promise.resolve("later");
  return <p>{word} {ctx.url.pathname}</p>;
}
