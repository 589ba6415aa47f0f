import type { Handlers, PageProps } from "$fresh/server.ts";
import type { State } from "../_middleware.ts";

/** Fixture handler: renders the page with the decoded id. */
export const handler: Handlers<{ id: string }, State> = {
  GET(_req, ctx) {
    return ctx.render({ id: ctx.params.id }, { headers: { "X-Id": "1" } });
  },
};

/** Fixture agent page. */
export default function Agent(props: PageProps<{ id: string }, State>) {
  return <p>agent {props.data.id} {props.state.trail.join(">")}</p>;
}
