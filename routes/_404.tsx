import { Head } from "$fresh/runtime.ts";
import type { UnknownPageProps } from "$fresh/server.ts";

/** Not found page. */
export default function NotFound({ url }: UnknownPageProps) {
  return (
    <main class="message-page">
      <Head>
        <title>Not found · Flightdeck</title>
      </Head>
      <h1>404 — not found</h1>
      <p>
        Nothing lives at <code>{url.pathname}</code>.
      </p>
      <p>
        <a class="button" href="/">Back to the dashboard</a>
      </p>
    </main>
  );
}
