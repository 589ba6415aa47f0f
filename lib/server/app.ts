/**
 * Start a Flightdeck server: services, the Fresh plugin that hands them to
 * routes, and `Deno.serve` (behind the connection guard unless configured off). Used by `main.ts` and by integration tests.
 *
 * @module
 */
import { createHandler, type Manifest, type Plugin } from "$fresh/server.ts";
import type { Principal } from "./auth.ts";
import { type ConfigInput, loadConfig } from "./config.ts";
import { type GuardStats } from "./conn_guard.ts";
import { withSecurityHeaders } from "./http_security.ts";
import { listen } from "./listen.ts";
import type { Logger } from "./logger.ts";
import { createServices, type Services } from "./services.ts";

/** `ctx.state` of every route. */
export interface AppState {
  app: Services;
  /** The signed-in user (set by routes/_middleware.ts), or null. */
  user: Principal | null;
  /** Connection guard counters, or null when serving directly. */
  connections(): GuardStats | null;
}

/** The Fresh plugin that puts the services into `ctx.state.app`. */
export function flightdeckPlugin(
  services: Services,
  connections: () => GuardStats | null = () => null,
): Plugin {
  return {
    name: "flightdeck",
    middlewares: [{
      path: "/",
      middleware: {
        handler: (_req, ctx) => {
          ctx.state.app = services;
          ctx.state.user = null;
          ctx.state.connections = connections;
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
  /** Connection guard counters, or null when serving directly. */
  connections(): GuardStats | null;
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
    ...(options.ignoreEnv ? { deploymentId: null } : {}),
  });
  const handler = withSecurityHeaders(
    await createHandler(manifest, {
      plugins: [flightdeckPlugin(services, () => stats())],
    }),
  );
  let stats = (): GuardStats | null => null;
  const server = await listen(handler, config, services.log);
  stats = () => server.connections();
  const addr = server.addr;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  let stopping: Promise<void> | null = null;
  return {
    url: `http://${host}:${addr.port}`,
    services,
    connections: () => server.connections(),
    shutdown() {
      stopping ??= (async () => {
        server.stopAccepting();
        await services.close();
        await server.close();
      })();
      return stopping;
    },
  };
}
