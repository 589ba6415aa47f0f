import type { ErrorPageProps } from "$fresh/server.ts";

/** Fixture 500 page. */
export default function ServerError(props: ErrorPageProps) {
  return <p>failed: {String((props.error as Error).message)}</p>;
}
