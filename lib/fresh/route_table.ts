/**
 * Turns a manifest's `routes` into a route table: pages/handlers by pattern,
 * per-folder `_middleware`, and the special `_app`, `_404` and `_500` pages.
 * @module
 */
import type { ComponentType } from "preact";
import {
  compilePattern,
  matchPattern,
  pathToPattern,
  type Pattern,
  Router,
} from "./router.ts";
import type {
  AppProps,
  ErrorPageProps,
  Handler,
  Handlers,
  Manifest,
  MiddlewareHandler,
  PageProps,
  Plugin,
  RouteConfig,
  RouteModule,
} from "./types.ts";

/** A page or API route. */
export interface Route {
  /** Manifest key, e.g. `./routes/agents/[id].tsx`. */
  file: string;
  /** Pattern text, e.g. `/agents/:id`. */
  pattern: string;
  /** Page component, if the module has a default export. */
  component?: ComponentType<PageProps<unknown>>;
  /** The module's handler: a function or a `Handlers` object. */
  handler?: Handler | Handlers;
  /** The module's `config`. */
  config: RouteConfig;
}

/** A middleware scoped to a path. */
export interface ScopedMiddleware {
  /** Returns whether the middleware applies to `pathname`. */
  matches(pathname: string): boolean;
  /** The middleware functions, in order. */
  handlers: MiddlewareHandler[];
}

/** Everything routing needs, derived once from the manifest. */
export interface RouteTable {
  /** Page/API routes in match order. */
  router: Router<Route>;
  /** Plugin middlewares, then `_middleware` files outer → inner. */
  middlewares: ScopedMiddleware[];
  /** `_app` component. */
  app?: ComponentType<AppProps<unknown>>;
  /** `_404` component. */
  notFound?: ComponentType<PageProps<unknown>>;
  /** `_500` component. */
  error?: ComponentType<ErrorPageProps>;
}

function toList(value: unknown, file: string): MiddlewareHandler[] {
  const list = Array.isArray(value) ? value : [value];
  for (const fn of list) {
    if (typeof fn !== "function") {
      throw new TypeError(`Middleware "${file}" must export handler functions`);
    }
  }
  return list as MiddlewareHandler[];
}

function componentOf<P>(mod: RouteModule): ComponentType<P> | undefined {
  return typeof mod.default === "function"
    ? mod.default as ComponentType<P>
    : undefined;
}

function prefixMatcher(path: string): (pathname: string) => boolean {
  const base = path.replace(/\/+$/, "");
  return (p) => base === "" || p === base || p.startsWith(base + "/");
}

/**
 * Builds the route table. Plugin middlewares come first, in plugin order.
 * @throws {TypeError} on a malformed route module or route path.
 */
export function buildRouteTable(
  manifest: Manifest,
  plugins: Plugin[] = [],
): RouteTable {
  const table: RouteTable = { router: new Router(), middlewares: [] };
  for (const plugin of plugins) {
    for (const mw of plugin.middlewares ?? []) {
      table.middlewares.push({
        matches: prefixMatcher(mw.path),
        handlers: toList(mw.middleware.handler, `plugin ${plugin.name}`),
      });
    }
  }
  const folders: { pattern: Pattern; handlers: MiddlewareHandler[] }[] = [];
  for (const [file, mod] of Object.entries(manifest.routes)) {
    const rel = file.replace(/^\.\/routes\//, "");
    const name = rel.split("/").pop()!.replace(/\.[jt]sx?$/, "");
    if (name === "_middleware") {
      const dir = file.slice(0, file.lastIndexOf("/"));
      folders.push({
        pattern: compilePattern(pathToPattern(`${dir}/index.ts`)),
        handlers: toList(mod.handler, file),
      });
    } else if (!rel.includes("/")) {
      if (name === "_app") table.app = componentOf(mod);
      else if (name === "_404") table.notFound = componentOf(mod);
      else if (name === "_500") table.error = componentOf(mod);
    }
    if (name.startsWith("_")) continue;
    const handler = mod.handler;
    if (
      handler !== undefined && typeof handler !== "function" &&
      (typeof handler !== "object" || handler === null)
    ) {
      throw new TypeError(`Route "${file}" exports an invalid handler`);
    }
    const config = mod.config ?? {};
    const pattern = config.routeOverride ?? pathToPattern(file);
    table.router.add(pattern, {
      file,
      pattern,
      component: componentOf(mod),
      handler: handler as Handler | Handlers | undefined,
      config,
    });
  }
  folders.sort((a, b) => a.pattern.segments.length - b.pattern.segments.length);
  for (const f of folders) {
    table.middlewares.push({
      matches: (p) => matchPattern(f.pattern, p, true) !== undefined,
      handlers: f.handlers,
    });
  }
  return table;
}
