/**
 * Server rendering of full HTML documents: `_app` wrapping, `<Head>`
 * collection, island markers, hydration state and bundle tags.
 * @module
 */
import {
  type ComponentChildren,
  type ComponentType,
  Fragment,
  h,
  type VNode,
} from "preact";
import { renderToString } from "preact-render-to-string";
import { HEAD_CONTEXT } from "./runtime.ts";
import { BOOT_PATH, type BootData } from "./boot.ts";
import {
  collectIslands,
  escapeJsonForHtml,
  serializeIslandState,
} from "./islands.ts";
import type { AppProps, PageProps } from "./types.ts";

/** URLs of the built client assets, from the build manifest. */
export interface ClientAssets {
  /** URL of the client runtime module. */
  runtime: string;
  /** Per island base name: bundle URL and CSS URLs. */
  islands: Record<string, { js: string; css: string[] }>;
  /** CSS URLs not tied to one island (shared chunks), linked when any island renders. */
  css: string[];
}

/** Input of {@linkcode renderDocument}. */
export interface RenderDocumentOptions {
  /** The page, already turned into a vnode (so async pages work). */
  page: VNode | ComponentChildren;
  /** Page props, also given to `_app`. */
  props: PageProps<unknown>;
  /** `_app` component, unless the route skips it. */
  app?: ComponentType<AppProps<unknown>>;
  /** Built assets; without them islands render but are not hydrated. */
  assets?: ClientAssets;
}

const DEFAULT_HEAD =
  '<meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>';

function escapeAttr(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;")
    .replace(/</g, "&lt;");
}

/**
 * Renders a page to a complete `<!DOCTYPE html>` document. If `_app` renders
 * `<html>` it is used as is; otherwise the output is wrapped in a default
 * html/head/body. `<Head>` children, island CSS and module preloads go before
 * `</head>`; the island state, the boot data (both JSON blocks) and the
 * external boot module before `</body>`. No inline script is emitted.
 * @throws whatever a component throws while rendering.
 */
export function renderDocument(opts: RenderDocumentOptions): string {
  const head: ComponentChildren[] = [];
  const Component = () => h(Fragment, null, opts.page);
  const root = opts.app
    ? h(opts.app, { ...opts.props, Component })
    : h(Component, null);
  const { result, islands } = collectIslands(() => {
    const body = renderToString(
      h(HEAD_CONTEXT.Provider, { value: head }, root),
    );
    return { body, head: renderToString(h(Fragment, null, head)) };
  });
  let headHtml = result.head;
  let tail = "";
  if (islands.length > 0 && opts.assets) {
    const assets = opts.assets;
    const bases = [...new Set(islands.map((i) => i.info.base))];
    const css = [...assets.css];
    for (const base of bases) css.push(...(assets.islands[base]?.css ?? []));
    for (const href of css) {
      headHtml += `<link rel="stylesheet" href="${escapeAttr(href)}"/>`;
    }
    const boot: BootData = {
      runtime: assets.runtime,
      modules: bases.map((b) => assets.islands[b]?.js ?? ""),
      islands: [...new Map(islands.map((i) => [i.info.name, i.info]))]
        .map((
          [name, info],
        ) => [name, bases.indexOf(info.base), info.exportName]),
    };
    for (const href of [boot.runtime, ...boot.modules]) {
      headHtml += `<link rel="modulepreload" href="${escapeAttr(href)}"/>`;
    }
    // Data blocks plus one external module: no inline script runs.
    tail = `<script id="__FRSH_STATE" type="application/json">${
      serializeIslandState(islands)
    }</script><script id="__FRSH_BOOT" type="application/json">${
      escapeJsonForHtml(JSON.stringify(boot))
    }</script><script type="module" src="${BOOT_PATH}"></script>`;
  }
  return "<!DOCTYPE html>" + assemble(result.body, headHtml, tail);
}

function assemble(body: string, headHtml: string, tail: string): string {
  if (!/^\s*<html[\s>]/i.test(body)) {
    return `<html><head>${DEFAULT_HEAD}${headHtml}</head><body>${body}${tail}</body></html>`;
  }
  let html = body;
  const headEnd = html.search(/<\/head>/i);
  if (headEnd >= 0) {
    html = html.slice(0, headEnd) + headHtml + html.slice(headEnd);
  } else {
    const open = html.indexOf(">") + 1;
    html = `${html.slice(0, open)}<head>${headHtml}</head>${html.slice(open)}`;
  }
  const bodyEnd = html.lastIndexOf("</body>");
  if (bodyEnd >= 0) return html.slice(0, bodyEnd) + tail + html.slice(bodyEnd);
  const htmlEnd = html.lastIndexOf("</html>");
  return html.slice(0, htmlEnd) + tail + html.slice(htmlEnd);
}
