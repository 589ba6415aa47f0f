/**
 * Server entry of the Fresh 1.x compatible framework core
 * (`$fresh/server.ts`): types, `createHandler` and `start`.
 * @module
 */
import { createHandler } from "./handler.ts";
import type { FreshConfig, Manifest } from "./types.ts";

export { createHandler, type ServeHandler } from "./handler.ts";
export type {
  AppProps,
  Destination,
  ErrorPageProps,
  FreshConfig,
  FreshContext,
  Handler,
  HandlerContext,
  Handlers,
  KnownMethod,
  Manifest,
  MiddlewareHandler,
  MiddlewareHandlerContext,
  PageComponent,
  PageProps,
  Plugin,
  PluginMiddleware,
  RenderOptions,
  RouteConfig,
  RouteModule,
  ServerOptions,
  UnknownPageProps,
} from "./types.ts";

/**
 * Builds islands if stale, then serves the app with `Deno.serve` until
 * `config.server.signal` aborts. Defaults: hostname `127.0.0.1`, port 8000.
 *
 * @example
 * ```ts
 * await start(manifest, { server: { port: 8000 } });
 * ```
 */
export async function start(
  manifest: Manifest,
  config: FreshConfig = {},
): Promise<void> {
  const handler = await createHandler(manifest, config);
  const { hostname = "127.0.0.1", port = 8000, signal, onListen } =
    config.server ?? {};
  const server = Deno.serve({ hostname, port, signal, onListen }, handler);
  await server.finished;
}
