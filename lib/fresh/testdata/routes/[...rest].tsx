import type { PageProps } from "$fresh/server.ts";

/** Fixture catch-all page. */
export default function Rest(props: PageProps) {
  return <p>rest {props.params.rest}</p>;
}
