import type { AppProps } from "$fresh/server.ts";
import { asset } from "$fresh/runtime.ts";

/** The HTML document around every page. */
export default function App({ Component }: AppProps) {
  return (
    <html lang="en" data-theme="dark">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="dark light" />
        <title>Flightdeck</title>
        <link rel="stylesheet" href={asset("/styles.css")} />
        <link rel="stylesheet" href={asset("/xterm.css")} />
        <link rel="stylesheet" href={asset("/fleet.css")} />
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
      </head>
      <body>
        <Component />
      </body>
    </html>
  );
}
