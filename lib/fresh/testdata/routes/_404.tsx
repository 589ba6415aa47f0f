import type { PageProps } from "$fresh/server.ts";

/** Fixture 404 page. */
export default function NotFound(props: PageProps) {
  return <p>missing {props.url.pathname}</p>;
}
