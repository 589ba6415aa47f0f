/**
 * Wires the server together: KV, auth, registry, broadcaster, commands, and
 * the two socket endpoints. Routes reach it as `ctx.state.app`.
 *
 * @module
 */
import { CLOSE_CODES, envelope } from "../protocol.ts";
import { Auth, AuthError, LoginCodes, requestToken } from "./auth.ts";
import { AgentSession } from "./agent_session.ts";
import { Broadcaster } from "./broadcaster.ts";
import { CommandService } from "./commands.ts";
import type { Config } from "./config.ts";
import { DashboardSession } from "./dashboard_session.ts";
import { ensurePrivateDir, preparePrivateKvFile } from "./data_dir.ts";
import { createLogger, type Logger } from "./logger.ts";
import { Registry } from "./registry.ts";
import { loadSecret } from "./secret.ts";
import { Storage } from "./storage.ts";
import { enforceRetention } from "./retention.ts";
import { WebSocketPeer } from "./peer.ts";
import { SseHub } from "./sse.ts";
import { SlidingWindowLimit } from "./rate_limit.ts";
import { attachWebSocket } from "./session.ts";

/** The running server's parts. */
export interface Services {
  config: Config;
  log: Logger;
  kv: Deno.Kv;
  auth: Auth;
  loginCodes: LoginCodes;
  storage: Storage;
  registry: Registry;
  /** Every authenticated dashboard socket. */
  dashboards: Broadcaster;
  commands: CommandService;
  /** Commands per user per minute, across all of the user's connections. */
  commandRate: SlidingWindowLimit;
  /** Fallback (SSE) dashboard sessions. */
  sse: SseHub;
  /** Upgrade a request to a dashboard socket (or refuse it). */
  dashboardSocket(req: Request): Promise<Response>;
  /** Upgrade a request to an agent socket (or refuse it). */
  agentSocket(req: Request): Response;
  /** Close every socket with 1001, wait for pending writes, close KV. */
  close(): Promise<void>;
}

/** Options of {@link createServices}. */
export interface ServicesOptions {
  /** An open KV store to use instead of opening `config.kvPath`. */
  kv?: Deno.Kv;
  log?: Logger;
}

/** Open storage, restore state and build the server's services. */
export async function createServices(
  config: Config,
  options: ServicesOptions = {},
): Promise<Services> {
  const log = options.log ?? createLogger(config.logLevel);
  const kv = options.kv ?? await openKv(config);
  const storage = new Storage(kv);
  const auth = new Auth(await loadSecret(config.dataDir, config.secret));
  const dashboards = new Broadcaster({
    maxBufferedBytes: config.maxPeerBufferedBytes,
    onError: (peer, error) =>
      log.warn("Send failed", { peer: peer.id, error: String(error) }),
  });
  const registry = new Registry((agent) => {
    dashboards.broadcast(envelope("agent:status", { agent }));
    storage.saveAgent(agent).catch((error) =>
      log.error("Saving agent failed", { error: String(error) })
    );
  });
  registry.restore(await storage.loadAgents());
  const commands = await CommandService.create({
    storage,
    registry,
    dashboards,
    sendToAgent(agentId, message) {
      const peer = registry.peerOf(agentId);
      if (!peer?.isOpen) return false;
      try {
        peer.send(JSON.stringify(message));
        return true;
      } catch {
        return false;
      }
    },
    maxQueuePerAgent: config.maxQueuePerAgent,
    interruptGraceMs: config.interruptGraceMs,
    log: (level, message) => log[level](message),
  });
  const retain = async () => {
    try {
      const result = await enforceRetention(storage, {
        maxAgeMs: config.retentionMs,
        maxBytes: config.retentionBytes,
      });
      if (result.trimmedCommands) {
        log.info("Retention trimmed output", { ...result });
      }
    } catch (error) {
      log.error("Retention failed", { error: String(error) });
    }
  };
  await retain();
  const retentionTimer = setInterval(retain, config.retentionIntervalMs);
  const sockets = new Set<WebSocket>();
  const track = (socket: WebSocket) => {
    sockets.add(socket);
    socket.addEventListener("close", () => sockets.delete(socket));
  };

  const services: Services = {
    config,
    log,
    kv,
    auth,
    loginCodes: new LoginCodes(),
    storage,
    registry,
    dashboards,
    commands,
    sse: new SseHub(),
    commandRate: new SlidingWindowLimit(config.commandRatePerMinute, 60_000),
    async dashboardSocket(req) {
      const refused = refuseUpgrade(req, config.allowedOrigins);
      if (refused) return refused;
      let user = null;
      let failure: string | null = null;
      const token = requestToken(req);
      if (token) {
        try {
          user = await auth.verify(token);
          if (user.role === "agent") {
            user = null;
            failure = "Agent tokens cannot open a dashboard";
          }
        } catch (error) {
          if (!(error instanceof AuthError)) throw error;
          failure = error.message;
        }
      }
      const { socket, response } = Deno.upgradeWebSocket(req, {
        idleTimeout: 0,
      });
      track(socket);
      const session = new DashboardSession(
        new WebSocketPeer(socket),
        services,
        user,
      );
      attachWebSocket(socket, session);
      if (failure) {
        socket.addEventListener("open", () => session.rejectAuth(failure));
      }
      return response;
    },
    agentSocket(req) {
      if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return notUpgrade();
      }
      const token = requestToken(req); // The request is unusable after the upgrade.
      const { socket, response } = Deno.upgradeWebSocket(req, {
        idleTimeout: 0,
      });
      track(socket);
      attachWebSocket(
        socket,
        new AgentSession(new WebSocketPeer(socket), services, token),
      );
      return response;
    },
    async close() {
      clearInterval(retentionTimer);
      services.sse.closeAll();
      for (const socket of sockets) {
        try {
          socket.close(CLOSE_CODES.GOING_AWAY.code, "Server going away");
        } catch {
          // Already closed.
        }
      }
      await commands.idle();
      commands.close();
      if (!options.kv) kv.close();
    },
  };
  return services;
}

async function openKv(config: Config): Promise<Deno.Kv> {
  if (config.kvPath === ":memory:" || config.dataDir === ":memory:") {
    return await Deno.openKv(":memory:");
  }
  if (Deno.env.get("DENO_DEPLOYMENT_ID") && !config.kvPath) {
    return await Deno.openKv();
  }
  const path = config.kvPath ?? `${config.dataDir}/flightdeck.kv`;
  const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")));
  // The data folder is ours to keep private; a folder named by kvPath is
  // only created private (never changed) when missing.
  if (!config.kvPath) await ensurePrivateDir(config.dataDir);
  else if (dir) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await preparePrivateKvFile(path);
  return await Deno.openKv(path);
}

function notUpgrade(): Response {
  return new Response("This endpoint needs a WebSocket upgrade\n", {
    status: 400,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** A refusal for a dashboard upgrade, or null when it may proceed. */
function refuseUpgrade(
  req: Request,
  allowedOrigins: string[],
): Response | null {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return notUpgrade();
  }
  const origin = req.headers.get("origin");
  if (origin === null) return null; // Scripts: authenticated by token.
  const own = new URL(req.url).origin;
  const host = req.headers.get("host");
  let sameHost = false;
  try {
    sameHost = host !== null && new URL(origin).host === host;
  } catch {
    // An opaque origin ("null") never matches.
  }
  if (origin === own || sameHost || allowedOrigins.includes(origin)) {
    return null;
  }
  return new Response(`Origin "${origin}" is not allowed\n`, {
    status: 403,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
