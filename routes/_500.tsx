import { Head } from "$fresh/runtime.ts";
import type { ErrorPageProps } from "$fresh/server.ts";

/** Server error page; details stay in the server log. */
export default function ServerError(_props: ErrorPageProps) {
  return (
    <main class="message-page">
      <Head>
        <title>Error · Flightdeck</title>
      </Head>
      <h1>500 — something went wrong</h1>
      <p>The server could not render this page. The details are in its log.</p>
      <p>
        <a class="button" href="/">Back to the dashboard</a>
      </p>
    </main>
  );
}
