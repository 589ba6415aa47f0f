import assert from "node:assert/strict";
import { h } from "preact";
import { renderDocument } from "./render.ts";
import { registerIslands, serializeIslandState } from "./islands.ts";
import { Head } from "./runtime.ts";
import type { AppProps, PageProps } from "./types.ts";

function Island(props: { n: number; text: string }) {
  return <span>{props.text} {props.n}</span>;
}

registerIslands({
  routes: {},
  islands: { "./islands/Island.tsx": { default: Island } },
  baseUrl: "file:///app/fresh.gen.ts",
});

const props: PageProps = {
  url: new URL("http://localhost/"),
  params: {},
  data: undefined,
  state: {},
  route: "/",
};
const assets = {
  runtime: "/_frsh/js/h/client.js",
  islands: {
    Island: { js: "/_frsh/js/h/Island.js", css: ["/_frsh/js/h/Island.css"] },
  },
  css: [],
};

Deno.test("renderDocument() wraps a page without _app in a default document", () => {
  const html = renderDocument({ page: <p>hi</p>, props });
  assert.equal(
    html,
    '<!DOCTYPE html><html><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/></head><body><p>hi</p></body></html>',
  );
});

Deno.test("renderDocument() moves <Head> children into the _app's head", () => {
  const App = ({ Component }: AppProps) => (
    <html>
      <head>
        <meta charset="utf-8" />
      </head>
      <body>
        <Component />
      </body>
    </html>
  );
  const page = (
    <div>
      <Head>
        <title>T</title>
      </Head>x
    </div>
  );
  assert.equal(
    renderDocument({ page, props, app: App }),
    '<!DOCTYPE html><html><head><meta charset="utf-8"/><title>T</title></head><body><div>x</div></body></html>',
  );
});

Deno.test("renderDocument() marks islands and serializes their props", () => {
  const page = (
    <main>
      <Island n={1} text="</script><!--" />
      <Island n={2} text="b" />
    </main>
  );
  const html = renderDocument({ page, props, assets });
  assert.equal(
    html,
    '<!DOCTYPE html><html><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>' +
      '<link rel="stylesheet" href="/_frsh/js/h/Island.css"/>' +
      '<link rel="modulepreload" href="/_frsh/js/h/client.js"/><link rel="modulepreload" href="/_frsh/js/h/Island.js"/>' +
      "</head><body><main>" +
      '<div data-frsh-island="Island" data-frsh-id="0" style="display:contents"><span>&lt;/script>&lt;!-- 1</span></div>' +
      '<div data-frsh-island="Island" data-frsh-id="1" style="display:contents"><span>b 2</span></div></main>' +
      '<script id="__FRSH_STATE" type="application/json">{"v":[{"n":1,"text":"\\u003c/script>\\u003c!--"},{"n":2,"text":"b"}]}</script>' +
      '<script id="__FRSH_BOOT" type="application/json">{"runtime":"/_frsh/js/h/client.js","modules":["/_frsh/js/h/Island.js"],"islands":[["Island",0,"default"]]}</script>' +
      '<script type="module" src="/_frsh/boot.js"></script>' +
      "</body></html>",
  );
});

Deno.test("renderDocument() emits no scripts for a page without islands", () => {
  const html = renderDocument({ page: <p>plain</p>, props, assets });
  assert.ok(!html.includes("<script"));
  assert.ok(!html.includes("stylesheet"));
});

Deno.test("serializeIslandState() output parses back to the props", () => {
  const component = () => null;
  const islands = [{
    info: { name: "I", base: "I", exportName: "default", component },
    props: { text: "</script><!-- \u2028 & ' \"" },
  }];
  const json = serializeIslandState(islands);
  assert.ok(!json.includes("<"));
  assert.ok(!json.includes("\u2028"));
  assert.deepEqual(JSON.parse(json), { v: [islands[0].props] });
  assert.throws(
    () => serializeIslandState([{ ...islands[0], props: { n: 1n } }]),
    TypeError,
  );
});

Deno.test("Islands render without markers outside renderDocument()", async () => {
  const { renderToString } = await import("preact-render-to-string");
  assert.equal(
    renderToString(h(Island, { n: 1, text: "a" })),
    "<span>a 1</span>",
  );
});
