import type { AppProps } from "$fresh/server.ts";

/** Fixture app shell. */
export default function App({ Component }: AppProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
      </head>
      <body>
        <main>
          <Component />
        </main>
      </body>
    </html>
  );
}
