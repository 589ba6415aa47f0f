import { Head } from "$fresh/runtime.ts";

/** Fixture component: sets the document title via `<Head>`. */
export function Title(props: { text: string }) {
  return (
    <Head>
      <title>{props.text}</title>
    </Head>
  );
}
