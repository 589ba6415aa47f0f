/**
 * Wires the server together: KV, auth, registry, broadcaster, commands, and
 * the two socket endpoints. Routes reach it as `ctx.state.app`.
 *
 * @module
 */
import {
  type AgentInfo,
  CLOSE_CODES,
  type ToAgent,
  toDashboard,
} from "../protocol.ts";
import {
  Auth,
  AuthError,
  LoginCodes,
  osUserName,
  requestToken,
} from "./auth.ts";
import { AuditTrail, KvAuditStore, originRefusal } from "./audit.ts";
import { TokenRegistry } from "./tokens.ts";
import { AgentSession } from "./agent_session.ts";
import { AuthSessions } from "./auth_sessions.ts";
import { LoginThrottle } from "./login_throttle.ts";
import { Broadcaster } from "./broadcaster.ts";
import { CommandService } from "./commands.ts";
import type { Config } from "./config.ts";
import { DashboardSession } from "./dashboard_session.ts";
import { openKv, outputDir } from "./data_dir.ts";
import { FileOutputStore } from "./file_output.ts";
import { createLogger, type Logger } from "./logger.ts";
import { refuseCrossOrigin } from "./http_security.ts";
import { Registry } from "./registry.ts";
import { loadSecret, sharedSecret } from "./secret.ts";
import { deploymentId, deployWarnings } from "./deploy.ts";
import { type CommandStore, Storage } from "./storage.ts";
import { type KvLike, RedisKv } from "./redis_kv.ts";
import { enforceRetention } from "./retention.ts";
import { SearchIndex } from "./search_index.ts";
import { WebSocketPeer } from "./peer.ts";
import { SseHub } from "./sse.ts";
import { SessionControl } from "./session_control.ts";
import { SlidingWindowLimit } from "./rate_limit.ts";
import { attachWebSocket, type Session } from "./session.ts";
import { ClusterBus, Presence } from "./cluster.ts";
import {
  ClusterNode,
  type ControlAnswer,
  type TerminalOp,
} from "./cluster_node.ts";
import type { Requester } from "./session_control.ts";
import { requestRestart, type RestartDeps } from "./session_restart.ts";
import { type Admission, ConnectionLimits } from "./connection_limits.ts";
import { errorResponse, storageUnavailable } from "./errors.ts";

/**
 * How long an upgraded socket may take to open: one still connecting by
 * then lost its client before the 101 was written, and its place is given
 * back.
 */
export const UPGRADE_OPEN_TIMEOUT_MS = 10_000;

/** Least time between two "Connection refused" log lines. */
const REFUSAL_LOG_MS = 10_000;

/** The running server's parts. */
export interface Services {
  config: Config;
  log: Logger;
  kv: Deno.Kv;
  auth: Auth;
  /** Sign-ins: browser sessions, token refresh, revocation. */
  sessions: AuthSessions;
  /** The append-only record of who did what (see `audit.ts`). */
  audit: AuditTrail;
  /** Tokens minted from the UI: listed and revocable (see `tokens.ts`). */
  tokens: TokenRegistry;
  loginCodes: LoginCodes;
  /** Failed sign-ins per client address. */
  loginThrottle: LoginThrottle;
  /**
   * Commands, queues, agents and output: in Redis when `redisUrl` is set
   * (redis_storage.ts), else in {@link kv}.
   */
  storage: CommandStore;
  /**
   * Whether the storage answers (Redis: a PING within 2 s; Deno KV: always).
   */
  storageReady(): Promise<boolean>;
  registry: Registry;
  /**
   * Cluster mode (`redisUrl` set): this node's part of the cluster (fan-out,
   * ownership of agents, routing). Null with one server.
   */
  cluster: ClusterNode | null;
  /** Every authenticated dashboard connection: sockets and SSE sessions. */
  dashboards: Broadcaster;
  commands: CommandService;
  /** The word index of finished commands (`GET /api/search`). */
  search: SearchIndex;
  /** Who controls each agent's terminal; input and resize forwarding. */
  control: SessionControl;
  /** Send a message to a connected agent; false when it is not connected. */
  sendToAgent: (agentId: string, message: ToAgent) => boolean;
  /** Commands per user per minute, across all of the user's connections. */
  commandRate: SlidingWindowLimit;
  /** Fallback (SSE) dashboard sessions. */
  sse: SseHub;
  /** Live connections per user and address, and those not authenticated. */
  connections: ConnectionLimits;
  /** `log:forward` lines per user per minute, and lines refused so far. */
  logForward: { rate: SlidingWindowLimit; dropped: number };
  /**
   * Upgrade a request from `remoteAddr` to a dashboard socket, or refuse it
   * (400 not an upgrade, 403 foreign Origin, 429 over a connection cap).
   */
  dashboardSocket(req: Request, remoteAddr: Deno.NetAddr): Promise<Response>;
  /** Upgrade a request to an agent socket, or refuse it (as above). */
  agentSocket(req: Request, remoteAddr: Deno.NetAddr): Promise<Response>;
  /** Close every socket with 1001, wait for pending writes, close KV. */
  close(): Promise<void>;
}

/** Options of {@link createServices}. */
export interface ServicesOptions {
  /** An open KV store to use instead of opening `config.kvPath`. */
  kv?: Deno.Kv;
  log?: Logger;
  /**
   * The Deno Deploy deployment id, instead of `DENO_DEPLOYMENT_ID` (null:
   * not on Deploy).
   */
  deploymentId?: string | null;
}

/** Open storage, restore state and build the server's services. */
export async function createServices(
  config: Config,
  options: ServicesOptions = {},
): Promise<Services> {
  const log = options.log ?? createLogger(config.logLevel);
  for (
    const warning of deployWarnings(
      options.deploymentId === undefined
        ? deploymentId()
        : options.deploymentId ?? undefined,
      config,
    )
  ) log.warn(warning);
  const kv = options.kv ?? await openKv(config);
  // ioredis, with the Node compatibility it loads, costs a server that does
  // not use Redis about 15 MiB of memory: imported only when configured.
  const redisModule = config.redisUrl
    ? await import("./redis_storage.ts")
    : null;
  const redis = redisModule && config.redisUrl
    ? redisModule.connectRedis(config.redisUrl)
    : null;
  if (redis) {
    redis.on(
      "error",
      (error: Error) =>
        log.warn("Redis connection error", { error: String(error) }),
    );
    try {
      await redis.ping();
    } catch (error) {
      redis.disconnect();
      if (!options.kv) kv.close();
      throw new Error(
        `Cannot reach Redis at ${redactUrl(config.redisUrl!)}: ${error}`,
      );
    }
  }
  // What every node must see alike: sign-ins, tokens, sign-in codes, the
  // audit trail, the line and search indexes. With Redis, kept there
  // (redis_kv.ts); else in this process's Deno KV.
  const shared: KvLike = redis ? new RedisKv(redis) : kv;
  // Output of a KV file on disk: in files next to it (or, with
  // outputStore "kv", new output in KV while what is in files stays
  // readable). A KV given by the caller keeps output in itself.
  const files = options.kv || redis ? null : outputDir(config);
  const fileOutput = files
    ? new FileOutputStore(kv, files, { newIn: config.outputStore })
    : null;
  const storage: CommandStore = redisModule && redis
    ? new redisModule.RedisStorage(redis, shared)
    : fileOutput
    ? new Storage(kv, fileOutput)
    : new Storage(kv);
  const bus = redis
    ? await ClusterBus.start(redis, {
      onError: (error) =>
        log.warn("Cluster bus error", { error: String(error) }),
    })
    : null;
  // Set below, before anything is broadcast.
  let cluster: ClusterNode | null = null;
  let secret: string;
  if (config.secret || !redis) {
    secret = await loadSecret(config.dataDir, config.secret);
  } else {
    // Every node must sign alike: agree on one kept in Redis.
    secret = await sharedSecret(redis);
    log.warn(
      "FLIGHTDECK_SECRET is not set: the servers sharing this Redis sign tokens with a secret kept in Redis (key fd:secret), so whoever can read that Redis can sign tokens (`deno task token` run with the same FLIGHTDECK_REDIS_URL uses it too). Set FLIGHTDECK_SECRET (the same on every server) to keep it out of Redis.",
    );
  }
  const auth = new Auth(secret, {
    maxTtlSeconds: config.maxTokenTtlSeconds,
  });
  const sessions = new AuthSessions(shared, auth, {
    accessTtlSeconds: config.accessTtlSeconds,
    sessionTtlSeconds: config.sessionTtlSeconds,
    maxSessionsPerParent: config.maxSessionsPerToken,
    revocationCheckMs: config.revocationCheckMs,
  });
  const audit = new AuditTrail(new KvAuditStore(shared), {
    retentionMs: config.auditRetentionMs,
    refusalsPerMinute: config.auditRefusalsPerMinute,
    onError: (error) =>
      log.error("Audit write failed", { error: String(error) }),
  });
  // Input tallies and suppressed-refusal summaries are written by this.
  const auditTimer = setInterval(() => audit.sweep(), 5_000);
  const dashboards = new Broadcaster({
    maxBufferedBytes: config.maxPeerBufferedBytes,
    maxTotalBufferedBytes: config.maxTotalBufferedBytes,
    onShed: (peer, bufferedBytes, totalBytes) =>
      log.warn("Slow consumer shed for the total backlog cap", {
        peer: peer.id,
        bufferedBytes,
        totalBytes,
      }),
    onError: (peer, error) =>
      log.warn("Send failed", { peer: peer.id, error: String(error) }),
    // One server: nothing to pass on, not even a call.
    ...(bus
      ? {
        relay: (frame, message, durable) =>
          cluster?.relay(frame, message, durable),
      }
      : {}),
  });
  // Set below, before any agent can connect.
  let control: SessionControl | null = null;
  // Agents whose last record could not be written (Redis away): written
  // again when Redis is back. At most one entry per agent in the registry.
  const unsaved = new Set<string>();
  const saveAgent = (agent: AgentInfo) => {
    unsaved.delete(agent.id);
    storage.saveAgent(agent).catch((error) => {
      unsaved.add(agent.id);
      log.error("Saving agent failed", { error: String(error) });
    });
  };
  const registry = new Registry((agent, change) => {
    dashboards.broadcast(toDashboard("agent:status", { agent }));
    // Control of a terminal ends when its agent goes offline.
    if (agent.status === "offline") control?.agentOffline(agent.id);
    // Activity is not restored after a restart: a report writes nothing, so
    // an agent's reports cannot pile up storage writes.
    if (change === "activity") return;
    saveAgent(agent);
  });
  await storage.migrate();
  registry.restore(await storage.loadAgents());
  if (bus) {
    cluster = new ClusterNode({
      bus,
      presence: new Presence(redis!, {
        nodeId: bus.nodeId,
        ttlMs: config.presenceTtlMs,
      }),
      registry,
      dashboards,
      log,
      lostAfterMs: config.lostAfterMs,
    });
  }
  const sendToAgent = (agentId: string, message: ToAgent) => {
    const peer = registry.peerOf(agentId);
    if (!peer?.isOpen) return false;
    try {
      peer.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  };
  control = new SessionControl({
    registry,
    dashboards,
    sendToAgent,
    messagesPerSecond: config.terminalInputPerSecond,
    bytesPerSecond: config.terminalInputBytesPerSecond,
    // Kept for recordings (`r` events of the .cast).
    onResize: (commandId, size) => {
      const agent = registry.list().find((a) =>
        a.currentCommandId === commandId
      );
      if (agent) registry.setPty(agent.id, commandId, size);
      commands.resized(commandId, size).catch((error) =>
        log.error("Cannot record a resize", { commandId, error: String(error) })
      );
    },
  });
  const commands = await CommandService.create({
    storage,
    registry,
    dashboards,
    sendToAgent,
    maxQueuePerAgent: config.maxQueuePerAgent,
    interruptGraceMs: config.interruptGraceMs,
    maxCommandOutputBytes: config.maxCommandOutputBytes,
    lostAfterMs: config.lostAfterMs,
    defaultTimeoutMs: config.commandTimeoutMs || null,
    outputCommitDelayMs: config.testAppendDelayMs,
    log: (level, message) => log[level](message),
    ...(cluster ? { cluster } : {}),
    onTimeout: (command) =>
      audit.record({
        actor: "system",
        role: null,
        address: null,
        connectionId: null,
        action: "command.timeout",
        target: { agentId: command.agentId, commandId: command.id },
        outcome: "ok",
      }),
  });
  if (cluster) {
    const terminalControl = control;
    cluster.handle("terminal", (args) => {
      const { who, agentId, op } = args as {
        who: Requester;
        agentId: string;
        op: TerminalOp;
      };
      return Promise.resolve(
        remoteTerminal(
          { registry, sendToAgent },
          terminalControl,
          who,
          agentId,
          op,
        ),
      );
    });
    await cluster.attach(commands, control);
  }
  // Redis came back: agent records whose writes failed while it was away
  // are written again (the registry has them), and dispatches that failed
  // meanwhile go now.
  redis?.on("ready", () => {
    for (const agent of registry.list()) {
      // In cluster mode only the agents held here, and those whose record
      // this node failed to write and that no node holds now: other nodes
      // write theirs.
      if (
        cluster && !registry.peerOf(agent.id) &&
        !(unsaved.has(agent.id) && agent.status === "offline")
      ) continue;
      saveAgent(agent);
    }
    commands.dispatchAll().catch((error) =>
      log.warn("Dispatch after Redis came back failed", {
        error: String(error),
      })
    );
  });
  const retain = async () => {
    try {
      const result = await enforceRetention(storage, {
        maxAgeMs: config.retentionMs,
        maxBytes: config.retentionBytes,
      });
      if (result.trimmedCommands || result.deletedCommands) {
        log.info("Retention trimmed history", { ...result });
      }
    } catch (error) {
      log.error("Retention failed", { error: String(error) });
    }
    try {
      const deleted = await audit.enforceRetention();
      if (deleted) log.info("Audit retention deleted entries", { deleted });
    } catch (error) {
      log.error("Audit retention failed", { error: String(error) });
    }
  };
  await retain();
  const retentionTimer = setInterval(retain, config.retentionIntervalMs);
  const search = new SearchIndex({
    kv: storage.kv,
    output: storage.output,
    getCommand: (id) => storage.getCommand(id),
    finishedAfter: (cursor, limit) => storage.finishedAfter(cursor, limit),
    shared: redis !== null,
    onError: (id, error) =>
      log.error("Cannot index a command for search", {
        commandId: id,
        error: String(error),
      }),
  });
  // Revocations by other servers sharing Redis close this one's
  // connections too (the revoking server closes its own at once).
  const revocationTimer = redis
    ? setInterval(() => {
      sessions.closeRevoked(100).catch((error) =>
        log.warn("Cannot check revocations", { error: String(error) })
      );
    }, config.revocationCheckMs)
    : undefined;
  const searchTimer = setInterval(() => {
    search.catchUp().catch((error) =>
      log.error("Search indexing failed", { error: String(error) })
    );
  }, config.searchIndexIntervalMs);
  // A Redis connection that stops answering (a network gone quiet, no
  // close) is dropped and made again, so that commands waiting on it fail
  // (STORAGE_UNAVAILABLE) instead of piling up until it answers.
  let probing = false;
  const redisTimer = redis
    ? setInterval(() => {
      if (redis.status !== "ready" || probing) return;
      probing = true;
      const timer = setTimeout(() => {
        log.warn("Redis does not answer PING; reconnecting", {
          timeoutMs: redisModule!.REDIS_PING_TIMEOUT_MS,
        });
        redis.disconnect(true);
      }, redisModule!.REDIS_PING_TIMEOUT_MS);
      redis.ping().catch(() => {}).finally(() => {
        clearTimeout(timer);
        probing = false;
      });
    }, redisModule!.REDIS_PING_INTERVAL_MS)
    : undefined;
  const sockets = new Set<WebSocket>();
  /** Timers of upgraded sockets not open yet (see `upgrade`). */
  const unopenedTimers = new Set<ReturnType<typeof setTimeout>>();
  const track = (socket: WebSocket) => {
    sockets.add(socket);
    socket.addEventListener("close", () => sockets.delete(socket));
  };
  const connections = new ConnectionLimits({
    maxPerUser: config.maxConnectionsPerUser,
    maxPerAddress: config.maxConnectionsPerAddress,
    maxUnauthenticatedPerAddress: config.maxUnauthenticatedPerAddress,
    maxUnauthenticated: config.maxUnauthenticated,
  });
  // Refusals are logged at most once per REFUSAL_LOG_MS, with a count, so
  // a stream of refused upgrades cannot flood the log.
  let refusals = 0;
  let refusalLoggedAt = Number.NEGATIVE_INFINITY;
  const noteRefusal = (admission: Admission, reason: string) => {
    audit.refusal({
      actor: admission.userId,
      role: null,
      address: admission.address,
      connectionId: null,
      action: "access.refused",
      target: {},
      outcome: "refused",
      detail: { reason: "rate", message: reason },
    });
    refusals++;
    if (Date.now() - refusalLoggedAt < REFUSAL_LOG_MS) return;
    log.warn("Connection refused", { ...admission, reason, refusals });
    refusals = 0;
    refusalLoggedAt = Date.now();
  };
  /**
   * Admit a socket (429 when over a cap), upgrade it, and release its place
   * when it is gone. With `failure`, the session is refused as soon as it
   * opens: AUTH_FAILED and 4401 for a string, STORAGE_UNAVAILABLE and 1001
   * for `{ unavailable }` (its sign-in could not be checked). The request
   * is unusable after the upgrade.
   */
  const upgrade = (
    req: Request,
    admission: Admission,
    start: (
      peer: WebSocketPeer,
    ) => Session<{ type: string; id?: string }, { type: string }>,
    failure: string | { unavailable: string } | null = null,
  ): Response => {
    const id = crypto.randomUUID();
    const refused = connections.admit(id, admission);
    if (refused) {
      noteRefusal(admission, refused);
      return tooManyConnections(refused);
    }
    let upgraded;
    try {
      upgraded = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    } catch (error) {
      connections.release(id);
      throw error;
    }
    const { socket, response } = upgraded;
    track(socket);
    const session = start(new WebSocketPeer(socket, id));
    attachWebSocket(socket, session, () => connections.release(id));
    // A client that left before the 101 went out leaves a socket that never
    // opens and never fires "close": without this its place (and its user's
    // count) would stay taken until the server restarts.
    const unopened = setTimeout(() => {
      unopenedTimers.delete(unopened);
      if (socket.readyState !== WebSocket.CONNECTING) return;
      connections.release(id);
      sockets.delete(socket);
      session.closed();
    }, UPGRADE_OPEN_TIMEOUT_MS);
    unopenedTimers.add(unopened);
    const opened = () => {
      clearTimeout(unopened);
      unopenedTimers.delete(unopened);
    };
    socket.addEventListener("open", opened, { once: true });
    socket.addEventListener("close", opened, { once: true });
    if (failure) {
      socket.addEventListener("open", () => {
        if (typeof failure === "string") session.rejectAuth(failure);
        else session.refuseUnavailable(failure.unavailable);
      });
    }
    return response;
  };

  const services: Services = {
    storageReady: async () => {
      if (!redis) return true;
      if (redis.status !== "ready") return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          redis.ping().then((pong) => pong === "PONG"),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), 2000);
          }),
        ]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    config,
    log,
    kv,
    auth,
    sessions,
    audit,
    tokens: new TokenRegistry(shared, auth, sessions),
    loginCodes: new LoginCodes(
      config.adminUser ?? osUserName() ?? "admin",
      redis ? shared : null,
    ),
    loginThrottle: new LoginThrottle(
      config.loginFailureLimit,
      config.loginFailureWindowMs,
    ),
    storage,
    registry,
    cluster,
    dashboards,
    commands,
    search,
    control,
    sendToAgent,
    sse: new SseHub(connections),
    connections,
    logForward: {
      rate: new SlidingWindowLimit(config.logForwardPerMinute, 60_000),
      dropped: 0,
    },
    commandRate: new SlidingWindowLimit(config.commandRatePerMinute, 60_000),
    async dashboardSocket(req, remoteAddr) {
      const refused = refuseUpgrade(req, config);
      if (refused) {
        if (refused.status === 403) {
          audit.refusal(originRefusal(req, remoteAddr.hostname));
        }
        return refused;
      }
      let user = null;
      let failure: string | null = null;
      let unavailable: string | null = null;
      const token = requestToken(req);
      if (token) {
        try {
          user = await sessions.verify(token);
          if (user.role === "agent") {
            user = null;
            failure = "Agent tokens cannot open a dashboard";
          }
        } catch (error) {
          if (error instanceof AuthError) failure = error.message;
          else unavailable = storageUnavailable(error)?.message ?? null;
          if (!failure && !unavailable) throw error;
        }
      }
      // A bad token still gets a socket, closed at once with AUTH_FAILED and
      // 4401 (browsers cannot read an HTTP status of a refused upgrade), and
      // counts as unauthenticated until it is gone; a token the storage could
      // not check, with STORAGE_UNAVAILABLE and 1001 (reconnect).
      const address = remoteAddr.hostname;
      if (failure) {
        audit.refusal({
          actor: null,
          role: null,
          address,
          connectionId: null,
          action: "auth.refused",
          target: { path: "/ws/dashboard" },
          outcome: "refused",
          detail: { reason: failure },
        });
      }
      return upgrade(
        req,
        { address, userId: user?.id ?? null, perAddress: true },
        (peer) => new DashboardSession(peer, services, user, address),
        unavailable === null ? failure : { unavailable },
      );
    },
    async agentSocket(req, remoteAddr) {
      const refused = refuseUpgrade(req, config);
      if (refused) {
        if (refused.status === 403) {
          audit.refusal(originRefusal(req, remoteAddr.hostname));
        }
        return refused;
      }
      const token = requestToken(req);
      // An agent token in the Authorization header is checked before the
      // upgrade; anything else authenticates (or fails) by agent:connect. A
      // check the storage could not answer refuses the socket at once
      // (STORAGE_UNAVAILABLE, 1001): the agent reconnects with its backoff.
      let userId: string | null = null;
      let unavailable: string | null = null;
      if (token) {
        try {
          const principal = await sessions.verify(token);
          if (principal.role === "agent") userId = principal.id;
        } catch (error) {
          if (!(error instanceof AuthError)) {
            unavailable = storageUnavailable(error)?.message ?? null;
            if (unavailable === null) throw error;
          }
        }
      }
      return upgrade(
        req,
        { address: remoteAddr.hostname, userId, perAddress: false },
        (peer) =>
          new AgentSession(peer, services, token, {
            verified: userId !== null,
            address: remoteAddr.hostname,
          }),
        unavailable === null ? null : { unavailable },
      );
    },
    async close() {
      clearInterval(auditTimer);
      clearInterval(retentionTimer);
      clearInterval(searchTimer);
      clearInterval(revocationTimer);
      clearInterval(redisTimer);
      await search.idle();
      services.sse.closeAll();
      for (const timer of unopenedTimers) clearTimeout(timer);
      unopenedTimers.clear();
      for (const socket of sockets) {
        try {
          socket.close(CLOSE_CODES.GOING_AWAY.code, "Server going away");
        } catch {
          // Already closed.
        }
      }
      // Output waiting for Redis to come back is not stored by this run:
      // the agents send it again to the next one.
      commands.outputLog.close();
      await commands.idle();
      commands.close();
      await cluster?.close();
      await audit.close();
      // QUIT waits for pending replies; without a connection, just stop
      // reconnecting.
      if (redis?.status === "ready") {
        await redis.quit().catch(() => redis.disconnect());
      } else redis?.disconnect();
      await fileOutput?.close();
      if (!options.kv) kv.close();
    },
  };
  return services;
}

/**
 * Cluster mode: a terminal message of a dashboard on another node for an
 * agent held here, handled as if it came from a local connection.
 */
function remoteTerminal(
  deps: RestartDeps,
  control: SessionControl,
  who: Requester,
  agentId: string,
  op: TerminalOp,
): ControlAnswer | null {
  switch (op.op) {
    case "control": {
      const before = control.holderOf(agentId);
      const unchanged = control.control(who, agentId, op.take);
      return { unchanged, before, after: control.holderOf(agentId) };
    }
    case "input":
      control.input(who, agentId, op.data);
      return null;
    case "resize":
      control.resize(who, agentId, { cols: op.cols, rows: op.rows });
      return null;
    case "restart":
      requestRestart(deps, who, agentId);
      return null;
  }
}

/** `url` without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/** HTTP 429 with a RATE_LIMIT error naming the cap. */
export function tooManyConnections(message: string): Response {
  return errorResponse("RATE_LIMIT", message, { "retry-after": "5" });
}

function notUpgrade(): Response {
  return new Response("This endpoint needs a WebSocket upgrade\n", {
    status: 400,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * A refusal for a socket upgrade, or null when it may proceed: not an
 * upgrade (400), or an `Origin` that is neither this server nor allowed
 * (403). Agents and scripts send no Origin; browsers always do.
 */
function refuseUpgrade(req: Request, config: Config): Response | null {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return notUpgrade();
  }
  // Scheme and host, as for /api/events and POST /login; scripts and agents
  // send no Origin and authenticate by token.
  return refuseCrossOrigin(req, config);
}
