/**
 * Public types of the Fresh 1.x compatible framework core. Names and shapes
 * mirror upstream Fresh 1.x so `$fresh/` can later point at upstream Fresh.
 * @module
 */
import type { ComponentChildren, ComponentType, VNode } from "preact";

/** Where a request is headed after routing. */
export type Destination = "internal" | "static" | "route" | "notFound";

/** Options accepted by {@linkcode FreshContext.render}. */
export interface RenderOptions {
  /** HTTP status of the rendered page (default 200). */
  status?: number;
  /** Extra response headers. */
  headers?: HeadersInit;
}

/** The context passed to handlers and middlewares. */
export interface FreshContext<S = Record<string, unknown>, T = unknown> {
  /** The incoming request. */
  req: Request;
  /** The parsed request URL. */
  url: URL;
  /** Decoded path parameters of the matched route. */
  params: Record<string, string>;
  /** Per-request state shared between middlewares, handlers and pages. */
  state: S;
  /** Address of the remote peer. */
  remoteAddr: Deno.NetAddr;
  /** Route pattern that matched, e.g. `/agents/:id`. */
  route: string;
  /** What the request resolved to. */
  destination: Destination;
  /** Data passed to `render`, visible to async page components. */
  data: T;
  /** Renders the route's page component with `data` as `props.data`. */
  render(data?: T, options?: RenderOptions): Promise<Response>;
  /** Renders the `_404` page with status 404. */
  renderNotFound(data?: T): Promise<Response>;
  /** Calls the next middleware, or the route itself. */
  next(): Promise<Response>;
}

/** Alias kept for Fresh 1.x compatibility. */
export type MiddlewareHandlerContext<S = Record<string, unknown>> =
  FreshContext<S>;
/** Alias kept for Fresh 1.x compatibility. */
export type HandlerContext<T = unknown, S = Record<string, unknown>> =
  FreshContext<S, T>;

/** A request handler of a route. */
export type Handler<T = unknown, S = Record<string, unknown>> = (
  req: Request,
  ctx: FreshContext<S, T>,
) => Response | Promise<Response>;

/** Known HTTP methods a {@linkcode Handlers} object may handle. */
export type KnownMethod =
  | "GET"
  | "HEAD"
  | "POST"
  | "PUT"
  | "DELETE"
  | "OPTIONS"
  | "PATCH";

/** An object of per-method route handlers. */
export type Handlers<T = unknown, S = Record<string, unknown>> = {
  [K in KnownMethod]?: Handler<T, S>;
};

/** A middleware function of `_middleware.ts` or a plugin. */
export type MiddlewareHandler<S = Record<string, unknown>> = (
  req: Request,
  ctx: FreshContext<S>,
) => Response | Promise<Response>;

/** Props given to a page component. */
export interface PageProps<T = unknown, S = Record<string, unknown>> {
  /** The request URL. */
  url: URL;
  /** Decoded route parameters. */
  params: Record<string, string>;
  /** Data passed to `ctx.render`. */
  data: T;
  /** Request state set by middlewares. */
  state: S;
  /** Route pattern that matched. */
  route: string;
}

/** Props given to `_app.tsx`: the page props plus the page `Component`. */
export interface AppProps<T = unknown, S = Record<string, unknown>>
  extends PageProps<T, S> {
  /** Renders the page inside the app shell. */
  Component: ComponentType<Record<never, never>>;
}

/** Props given to `_404.tsx`. */
export type UnknownPageProps<T = unknown, S = Record<string, unknown>> =
  PageProps<T, S>;

/** Props given to `_500.tsx`. */
export interface ErrorPageProps<S = Record<string, unknown>>
  extends PageProps<unknown, S> {
  /** The value thrown by the handler or page. */
  error: unknown;
}

/** Per-route configuration exported as `config` from a route module. */
export interface RouteConfig {
  /** Replaces the file-derived pattern, e.g. `/a/:id` or `/files/:path*`. */
  routeOverride?: string;
  /** Renders the page without `_app`. */
  skipAppWrapper?: boolean;
  /** Accepted for compatibility; layouts are not supported. */
  skipInheritedLayouts?: boolean;
}

/** A page component; may be async (`(req, ctx) => Promise<VNode>`). */
export type PageComponent =
  | ComponentType<PageProps<unknown>>
  | ((req: Request, ctx: FreshContext) => Promise<VNode | ComponentChildren>);

/** The shape of any module listed in {@linkcode Manifest.routes}. */
export interface RouteModule {
  /** A page component. */
  default?: unknown;
  /** A handler function, `Handlers` object, or middleware (array). */
  handler?: unknown;
  /** Route configuration. */
  config?: RouteConfig;
}

/** The generated `fresh.gen.ts` manifest. */
export interface Manifest {
  /** Route modules keyed by `./routes/...` paths. */
  routes: Record<string, RouteModule>;
  /** Island modules keyed by `./islands/...` paths. */
  islands: Record<string, Record<string, unknown>>;
  /** `import.meta.url` of `fresh.gen.ts`; paths resolve against it. */
  baseUrl: string;
}

/** A middleware contributed by a plugin. */
export interface PluginMiddleware<S = Record<string, unknown>> {
  /** Path prefix the middleware applies to, e.g. `/` or `/api`. */
  path: string;
  /** The middleware handler(s). */
  middleware: { handler: MiddlewareHandler<S> | MiddlewareHandler<S>[] };
}

/** A Fresh plugin. Only middlewares are supported. */
export interface Plugin<S = Record<string, unknown>> {
  /** Plugin name, for diagnostics. */
  name: string;
  /** Middlewares that run before every route middleware. */
  middlewares?: PluginMiddleware<S>[];
}

/** Server options of {@linkcode FreshConfig}. */
export interface ServerOptions {
  /** Interface to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** Port to listen on (default 8000). */
  port?: number;
  /** Aborting it shuts the server down. */
  signal?: AbortSignal;
  /** Called once the server listens. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** Configuration passed to `start` and `createHandler`. */
export interface FreshConfig {
  /** Plugins whose middlewares run first. */
  plugins?: Plugin[];
  /** Options for `Deno.serve`. */
  server?: ServerOptions;
  /** Static files directory (default `./static` beside the manifest). */
  staticDir?: string;
  /** Island build options. */
  build?: { outDir?: string };
}
