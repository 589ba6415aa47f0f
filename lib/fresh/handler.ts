/**
 * `createHandler`: builds islands if needed, then serves bundles, static
 * files and routes through the middleware chain.
 * @module
 */
import { type ComponentChildren, type ComponentType, h } from "preact";
import { isAbsolute, join } from "node:path";
import { defaultOutDir, ensureBuilt, projectRoot } from "./build.ts";
import { BOOT_PATH, BOOT_SOURCE } from "./boot.ts";
import { registerIslands } from "./islands.ts";
import { type ClientAssets, renderDocument } from "./render.ts";
import { buildRouteTable, type Route, type RouteTable } from "./route_table.ts";
import { _setBuildId } from "./runtime.ts";
import { IMMUTABLE, resolveInside, serveFile } from "./static_files.ts";
import type {
  Destination,
  FreshConfig,
  FreshContext,
  Handler,
  Manifest,
  PageProps,
  RenderOptions,
} from "./types.ts";

/** The request handler returned by {@linkcode createHandler}. */
export type ServeHandler = (
  req: Request,
  info: Deno.ServeHandlerInfo,
) => Promise<Response>;

const BUNDLE_PREFIX = "/_frsh/js/";
const HTML = "text/html; charset=utf-8";

interface Setup {
  table: RouteTable;
  staticDir: string;
  outDir: string;
  assets?: ClientAssets;
}

function toAssets(
  built: Awaited<ReturnType<typeof ensureBuilt>>,
): ClientAssets {
  const url = (p: string) => BUNDLE_PREFIX + p;
  const islands: ClientAssets["islands"] = {};
  for (const [name, i] of Object.entries(built.islands)) {
    islands[name] = { js: url(i.js), css: i.css.map(url) };
  }
  return { runtime: url(built.runtime), islands, css: built.css.map(url) };
}

function isAsyncFunction(fn: unknown): boolean {
  return typeof fn === "function" && fn.constructor.name === "AsyncFunction";
}

function htmlResponse(html: string, status: number, init?: HeadersInit) {
  const headers = new Headers(init);
  if (!headers.has("Content-Type")) headers.set("Content-Type", HTML);
  return new Response(html, { status, headers });
}

async function isFile(path: string | undefined): Promise<boolean> {
  if (!path) return false;
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Creates the request handler for `manifest`. Builds the island bundles
 * first when they are missing or stale (once per process).
 *
 * @example
 * ```ts
 * const handler = await createHandler(manifest, config);
 * Deno.serve({ port: 0 }, handler);
 * ```
 * @throws {TypeError} for malformed route modules; {@linkcode Error} when
 * bundling fails.
 */
export async function createHandler(
  manifest: Manifest,
  config: FreshConfig = {},
): Promise<ServeHandler> {
  const root = projectRoot(manifest);
  const resolve = (p: string) => isAbsolute(p) ? p : join(root, p);
  const setup: Setup = {
    table: buildRouteTable(manifest, config.plugins),
    staticDir: resolve(config.staticDir ?? "static"),
    outDir: config.build?.outDir
      ? resolve(config.build.outDir)
      : defaultOutDir(manifest),
  };
  registerIslands(manifest);
  if (Object.keys(manifest.islands).length > 0) {
    setup.assets = toAssets(await ensureBuilt(manifest, setup.outDir));
  }
  _setBuildId(Deno.env.get("DENO_DEPLOYMENT_ID") ?? crypto.randomUUID());
  return (req, info) => handle(setup, req, info);
}

async function handle(
  setup: Setup,
  req: Request,
  info: Deno.ServeHandlerInfo,
): Promise<Response> {
  const { table } = setup;
  const url = new URL(req.url);
  const match = table.router.match(url.pathname);
  let destination: Destination = match ? "route" : "notFound";
  if (url.pathname.startsWith(BUNDLE_PREFIX) || url.pathname === BOOT_PATH) {
    destination = "internal";
  } else if (await isFile(resolveInside(setup.staticDir, url.pathname))) {
    destination = "static";
  }
  const route: Route | undefined = match?.value;
  const ctx: FreshContext = {
    req,
    url,
    params: match?.params ?? {},
    state: {},
    remoteAddr: info.remoteAddr as Deno.NetAddr,
    route: match?.route ?? "",
    destination,
    data: undefined,
    render: (data, options) => renderRoute(setup, ctx, route, data, options),
    renderNotFound: (data) => renderNotFound(setup, ctx, data),
    next: () => renderNotFound(setup, ctx),
  };

  const final = async (): Promise<Response> => {
    if (destination === "internal" && url.pathname === BOOT_PATH) {
      return new Response(req.method === "HEAD" ? null : BOOT_SOURCE, {
        headers: {
          "Content-Type": "text/javascript; charset=utf-8",
          "Cache-Control": "no-cache",
        },
      });
    }
    if (destination === "internal") {
      const res = await serveFile(
        req,
        setup.outDir,
        url.pathname.slice(BUNDLE_PREFIX.length),
        { cacheControl: IMMUTABLE },
      );
      return res ?? renderNotFound(setup, ctx);
    }
    if (destination === "static") {
      const cacheControl = url.searchParams.has("__frsh_c")
        ? IMMUTABLE
        : "no-cache";
      const res = await serveFile(req, setup.staticDir, url.pathname, {
        cacheControl,
      });
      if (res) return res;
    }
    if (!route) return renderNotFound(setup, ctx);
    ctx.next = () => renderNotFound(setup, ctx);
    return runRoute(route, req, ctx);
  };

  const chain = table.middlewares.filter((m) => m.matches(url.pathname))
    .flatMap((m) => m.handlers);
  const run = (i: number): Promise<Response> => {
    if (i >= chain.length) return final();
    ctx.next = () => run(i + 1);
    return Promise.resolve(chain[i](req, ctx));
  };
  try {
    return await run(0);
  } catch (error) {
    return renderError(setup, ctx, error);
  }
}

async function runRoute(
  route: Route,
  req: Request,
  ctx: FreshContext,
): Promise<Response> {
  const { handler } = route;
  if (typeof handler === "function") return await handler(req, ctx);
  const handlers: Record<string, Handler | undefined> = handler
    ? { ...handler }
    : route.component
    ? { GET: (_req, c) => c.render() }
    : {};
  const own = handlers[req.method];
  if (own) return await own(req, ctx);
  if (req.method === "HEAD" && handlers.GET) {
    const res = await handlers.GET(req, ctx);
    return new Response(null, { status: res.status, headers: res.headers });
  }
  const allow = Object.keys(handlers).filter((m) => handlers[m]);
  if (allow.includes("GET") && !allow.includes("HEAD")) allow.push("HEAD");
  return new Response("Method Not Allowed", {
    status: 405,
    headers: { Allow: allow.join(", ") },
  });
}

function pageProps(ctx: FreshContext, data: unknown): PageProps<unknown> {
  return {
    url: ctx.url,
    params: ctx.params,
    data,
    state: ctx.state,
    route: ctx.route,
  };
}

async function renderRoute(
  setup: Setup,
  ctx: FreshContext,
  route: Route | undefined,
  data: unknown,
  options: RenderOptions = {},
): Promise<Response> {
  const component = route?.component;
  if (!component) {
    throw new Error("This page does not have a component to render.");
  }
  ctx.data = data;
  const props = pageProps(ctx, data);
  const page: ComponentChildren = isAsyncFunction(component)
    ? await (component as unknown as Handler)(ctx.req, ctx) as ComponentChildren
    : h(component, props);
  const html = renderDocument({
    page,
    props,
    app: route.config.skipAppWrapper ? undefined : setup.table.app,
    assets: setup.assets,
  });
  return htmlResponse(html, options.status ?? 200, options.headers);
}

function renderSpecial<P extends PageProps<unknown>>(
  setup: Setup,
  component: ComponentType<P> | undefined,
  props: P,
  status: number,
  fallback: string,
): Response {
  if (!component) {
    return new Response(fallback, {
      status,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    });
  }
  const html = renderDocument({
    page: h(component, props),
    props,
    app: setup.table.app,
    assets: setup.assets,
  });
  return htmlResponse(html, status);
}

function renderNotFound(
  setup: Setup,
  ctx: FreshContext,
  data?: unknown,
): Promise<Response> {
  const props = pageProps(ctx, data);
  return Promise.resolve(
    renderSpecial(setup, setup.table.notFound, props, 404, "Not Found"),
  );
}

function renderError(
  setup: Setup,
  ctx: FreshContext,
  error: unknown,
): Response {
  // deno-lint-ignore no-console
  console.error(error);
  const props = { ...pageProps(ctx, undefined), error };
  try {
    return renderSpecial(
      setup,
      setup.table.error,
      props,
      500,
      "Internal Server Error",
    );
  } catch (renderFailure) {
    // deno-lint-ignore no-console
    console.error(renderFailure);
    return new Response("Internal Server Error", { status: 500 });
  }
}
