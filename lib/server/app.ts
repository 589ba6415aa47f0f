/**
 * Start a Flightdeck server: services, the Fresh plugin that hands them to
 * routes, and `Deno.serve`. Used by `main.ts` and by integration tests.
 *
 * @module
 */
import { createHandler, type Manifest, type Plugin } from "$fresh/server.ts";
import type { Principal } from "./auth.ts";
import { type ConfigInput, loadConfig } from "./config.ts";
import type { Logger } from "./logger.ts";
import { createServices, type Services } from "./services.ts";

/** `ctx.state` of every route. */
export interface AppState {
  app: Services;
  /** The signed-in user (set by routes/_middleware.ts), or null. */
  user: Principal | null;
}

/** The Fresh plugin that puts the services into `ctx.state.app`. */
export function flightdeckPlugin(services: Services): Plugin {
  return {
    name: "flightdeck",
    middlewares: [{
      path: "/",
      middleware: {
        handler: (_req, ctx) => {
          ctx.state.app = services;
          ctx.state.user = null;
          return ctx.next();
        },
      },
    }],
  };
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  url: string;
  services: Services;
  /** Stop accepting, close sockets with 1001, flush and close storage. */
  shutdown(): Promise<void>;
}

/** Options of {@link startServer}. */
export interface StartOptions {
  /** Overrides on top of the environment. */
  config?: ConfigInput;
  /** Read no environment variables (tests). */
  ignoreEnv?: boolean;
  kv?: Deno.Kv;
  log?: Logger;
}

/** Start serving `manifest` with Flightdeck's services. */
export async function startServer(
  manifest: Manifest,
  options: StartOptions = {},
): Promise<RunningServer> {
  const config = loadConfig(
    options.config,
    options.ignoreEnv ? () => undefined : undefined,
  );
  const services = await createServices(config, {
    kv: options.kv,
    log: options.log,
  });
  const handler = await createHandler(manifest, {
    plugins: [flightdeckPlugin(services)],
  });
  const controller = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: config.hostname,
    port: config.port,
    signal: controller.signal,
    onListen: resolve,
  }, handler);
  const addr = await listening;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  let stopping: Promise<void> | null = null;
  return {
    url: `http://${host}:${addr.port}`,
    services,
    shutdown() {
      stopping ??= (async () => {
        controller.abort();
        await services.close();
        await server.finished;
      })();
      return stopping;
    },
  };
}
