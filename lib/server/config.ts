/**
 * Server configuration: environment variables parsed once into a typed,
 * validated object. Bad values fail at start-up with the variable named.
 *
 * @module
 */
import { z } from "zod";
import { MAX_TIMEOUT_MS, OUTPUT_WINDOW } from "../protocol.ts";

const int = (min: number, max: number) =>
  z.coerce.number().int().min(min).max(max);

/** A boolean, also from the strings 1/0, true/false, on/off, yes/no. */
const flag = () =>
  z.union([
    z.boolean(),
    z.enum(["1", "0", "true", "false", "on", "off", "yes", "no"]).transform(
      (v) => v === "1" || v === "true" || v === "on" || v === "yes",
    ),
  ]);

/** Validated server configuration. */
export const ConfigSchema = z.object({
  hostname: z.string().min(1).default("127.0.0.1"),
  port: int(0, 65535).default(8000),
  /** Folder for the KV file and the generated secret; `:memory:` keeps nothing. */
  dataDir: z.string().min(1).default("./data"),
  /** HS256 secret for tokens; generated into `dataDir` when absent. */
  secret: z.string().min(32).optional(),
  /** Deno KV path; defaults to `<dataDir>/flightdeck.kv`, `:memory:` in tests. */
  kvPath: z.string().optional(),
  /**
   * Where output of new commands is stored with a KV file on disk: `file`
   * (append-only files next to it, file_output.ts; only bookkeeping in
   * KV) or `kv` (in the KV file itself, as before). Output already stored
   * either way stays readable. In-memory KV, Deno Deploy and Redis keep
   * their own stores.
   */
  outputStore: z.enum(["file", "kv"]).default("file"),
  /**
   * `redis://` or `rediss://` URL: commands, queues and output are stored in
   * this Redis instead of Deno KV (see redis_storage.ts). Absent: Deno KV.
   */
  redisUrl: z.string().regex(/^rediss?:\/\/[^\s]+$/, {
    message: "must be a redis:// or rediss:// URL",
  }).optional(),
  /**
   * Cluster mode: how long an agent's owner record and a node's liveness
   * record live in Redis without a heartbeat (renewed every third of it):
   * agents of a node that died show offline on every node within this
   * plus one heartbeat.
   */
  presenceTtlMs: int(300, 60_000).default(3000),
  /** Extra origins allowed to open dashboard sockets. */
  allowedOrigins: z.array(z.string().url()).default([]),
  maxFrameBytes: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
  maxQueuePerAgent: int(1, 100_000).default(100),
  heartbeatIntervalMs: int(100, 60_000).default(1500),
  /** Agents silent this long are offline: 4000 so that it shows within 5 s. */
  agentTimeoutMs: int(500, 600_000).default(4000),
  dashboardTimeoutMs: int(1000, 3_600_000).default(90_000),
  /**
   * A running command whose agent went offline ends `lost` when the agent
   * is not back with it within this time (ms).
   */
  lostAfterMs: int(0, 7 * 86400_000).default(120_000),
  /**
   * Timeout (ms) of exec commands whose request and agent (`--timeout-ms`)
   * name none; 0: none.
   */
  commandTimeoutMs: int(0, MAX_TIMEOUT_MS).default(0),
  /** Time between SIGINT, SIGTERM and SIGKILL when interrupting. */
  interruptGraceMs: int(0, 600_000).default(2000),
  /** A peer whose unsent bytes exceed this is closed with 4503. */
  maxPeerBufferedBytes: int(64 * 1024, 1024 * 1024 * 1024).default(
    8 * 1024 * 1024,
  ),
  /**
   * Output an agent may have sent and not had acknowledged: the agent is
   * told in `connection:ack.outputWindowBytes`, and a connection holding
   * more than this plus two frames of unhandled messages is closed 4429.
   */
  agentOutputWindowBytes: int(OUTPUT_WINDOW.minBytes, 1024 * 1024 * 1024)
    .default(OUTPUT_WINDOW.defaultBytes),
  /**
   * Test only: every commit of output (a batch of appends) waits this
   * long first (a slow store). 0 (default) leaves storage as it is.
   */
  testAppendDelayMs: int(0, 60_000).default(0),
  /** Messages per second a dashboard connection may send before RATE_LIMIT (agents are not limited by count). */
  messageRatePerSecond: int(1, 100_000).default(200),
  /**
   * `terminal:input` and `terminal:resize` messages one dashboard connection
   * may forward per second (a bucket this size, refilled continuously);
   * over it, RATE_LIMIT and the message is dropped.
   */
  terminalInputPerSecond: int(1, 100_000).default(100),
  /**
   * UTF-8 bytes of `terminal:input` data one dashboard connection may
   * forward per second (a bucket this size, refilled continuously; at least
   * one largest message, 64 KiB); over it, RATE_LIMIT and the message is
   * dropped.
   */
  terminalInputBytesPerSecond: int(64 * 1024, 64 * 1024 * 1024).default(
    256 * 1024,
  ),
  /** Commands per minute a user may request. */
  commandRatePerMinute: int(1, 100_000).default(600),
  /**
   * When the unsent bytes of all dashboard peers together pass this, the
   * peer with the largest backlog is closed with 4503 (repeatedly).
   */
  maxTotalBufferedBytes: int(64 * 1024, Number.MAX_SAFE_INTEGER).default(
    64 * 1024 * 1024,
  ),
  /** Dashboard sockets plus SSE sessions one user (token subject) may hold. */
  maxConnectionsPerUser: int(1, 100_000).default(32),
  /**
   * Dashboard sockets, SSE sessions and unauthenticated sockets one client
   * address may hold (agents count per agent, not per address).
   */
  maxConnectionsPerAddress: int(1, 100_000).default(64),
  /** Sockets not yet authenticated one client address may hold. */
  maxUnauthenticatedPerAddress: int(1, 10_000).default(2),
  /** Sockets not yet authenticated, over all addresses. */
  maxUnauthenticated: int(1, 100_000).default(8),
  /** A socket not yet authenticated that sends a larger frame is closed 1009. */
  maxUnauthenticatedFrameBytes: int(256, 1024 * 1024).default(16 * 1024),
  /** Largest `log:forward` message (UTF-8 bytes of message plus context). */
  logForwardMaxBytes: int(64, 1024 * 1024).default(4096),
  /** `log:forward` messages one user may write per minute. */
  logForwardPerMinute: int(1, 100_000).default(60),
  /**
   * Longest a browser sign-in lasts however often it is renewed (seconds);
   * a pasted token's sign-in also ends when that token expires.
   */
  sessionTtlSeconds: int(60, 365 * 24 * 3600).default(7 * 24 * 3600),
  /**
   * Lifetime of one browser session token (seconds). An open dashboard
   * page renews it halfway (`POST /api/session/refresh`, `auth:refresh`);
   * a browser with no dashboard page open (or asleep) for longer than this
   * signs in again.
   */
  accessTtlSeconds: int(1, 24 * 3600).default(3600),
  /**
   * Most browser sessions one pasted token keeps; a sign-in past it ends
   * the oldest of them.
   */
  maxSessionsPerToken: int(1, 1000).default(20),
  /** Longest token lifetime signed (`deno task token --ttl`) or accepted. */
  maxTokenTtlSeconds: int(60, 365 * 24 * 3600).default(90 * 24 * 3600),
  /** Failed sign-ins per address within the window before 429. */
  loginFailureLimit: int(1, 10_000).default(10),
  /** Window of {@link loginFailureLimit} (milliseconds). */
  loginFailureWindowMs: int(1000, 86400_000).default(10 * 60_000),
  /** Output of finished commands is kept this long. */
  retentionMs: int(60_000, 10 * 365 * 86400_000).default(7 * 86400_000),
  /** Total output bytes kept; the oldest finished output goes first. */
  retentionBytes: int(1024 * 1024, Number.MAX_SAFE_INTEGER).default(1024 ** 3),
  /**
   * Output bytes stored per command; past it the oldest output of that
   * command is deleted down to 7/8 of it (a replay announces the dropped
   * span with `terminal:gap`).
   */
  maxCommandOutputBytes: int(1024, Number.MAX_SAFE_INTEGER).default(
    256 * 1024 * 1024,
  ),
  /**
   * A `terminal:resume` that allows a snapshot is answered with the
   * command's screen snapshot and the output after it only when the command
   * has at least this much output; smaller ones are replayed whole.
   */
  snapshotMinBytes: int(0, Number.MAX_SAFE_INTEGER).default(256 * 1024),
  /**
   * Audit entries are kept this long (independent of output retention),
   * then deleted by the retention pass.
   */
  auditRetentionMs: int(60_000, 10 * 365 * 86400_000).default(90 * 86400_000),
  /**
   * Refusal entries (failed sign-ins, refused roles, origins, rates) the
   * audit trail writes per source (address or user) per minute; the rest
   * are counted into one `audit.suppressed` entry per source and minute.
   */
  auditRefusalsPerMinute: int(1, 100_000).default(60),
  /**
   * User name of the admin the start-up sign-in link signs in; when
   * absent, the OS user name (`USER`, `USERNAME`), else `admin`.
   */
  adminUser: z.string().trim().min(1).max(128).optional(),
  /** How often retention runs. */
  retentionIntervalMs: int(1000, 86400_000).default(60_000),
  /**
   * How often finished commands are added to the search index (the index
   * of `GET /api/search`), at most 50 commands per run.
   */
  searchIndexIntervalMs: int(100, 86400_000).default(5000),
  /**
   * With `redisUrl`: how often each server closes its connections whose
   * sign-in another server revoked (AuthSessions.closeRevoked).
   */
  revocationCheckMs: int(100, 600_000).default(2000),
  /** Least severe log level printed. */
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /**
   * Serve through the in-process connection guard (head timeout, connection
   * caps): `true` (also `relay`) relays bytes through it in a worker thread;
   * `"handoff"` accepts on the main thread and hands each connection to the
   * HTTP server without a relay (lib/server/conn_handoff.ts; the relay
   * where that is unavailable); `false` (`off`) serves directly with
   * `Deno.serve` (behind a reverse proxy that does this, or where
   * `Deno.listen` is unavailable).
   */
  connectionGuard: z.union([
    flag(),
    z.literal("relay").transform(() => true),
    z.literal("handoff"),
  ]).default(true),
  /** Time a new connection has to send a complete request head. */
  headTimeoutMs: int(100, 600_000).default(10_000),
  /** Largest request head (request line and headers). */
  maxHeadBytes: int(1024, 1024 * 1024).default(32 * 1024),
  /**
   * A connection through the guard with no byte either way for this long is
   * closed (idle keep-alive); 0 never. Sockets and event streams carry
   * heartbeats well within the default.
   */
  idleTimeoutMs: int(0, 24 * 3600_000).default(150_000),
  /**
   * A plain HTTP connection through the guard (not a WebSocket or event
   * stream) with no request in flight and no byte either way for this long
   * is closed; 0 never.
   */
  keepAliveTimeoutMs: int(0, 3600_000).default(5_000),
  /**
   * On a plain HTTP connection through the guard, the time from a request's
   * first byte (its head, for the first request) to the first byte of its
   * response; past it the connection is closed. 0 never.
   */
  requestTimeoutMs: int(0, 3600_000).default(30_000),
  /** Time to receive a whole request body; past it the answer is 408. */
  bodyTimeoutMs: int(100, 3600_000).default(10_000),
  /** Open TCP connections in all (also bounded by the open-file limit). */
  maxTcpConnections: int(1, 1_000_000).default(2048),
  /** Open TCP connections per client address (IPv6 per /64). */
  maxTcpConnectionsPerAddress: int(1, 1_000_000).default(256),
  /**
   * Trust `X-Forwarded-Proto` from a TLS-terminating reverse proxy (session
   * cookie `Secure`, Origin checks). Only set it when a proxy overwrites
   * that header on every request.
   */
  trustProxy: flag().default(false),
  /** Print the one-time sign-in URL at start. */
  printLoginUrl: z.boolean().default(true),
});

/** The server's configuration. */
export type Config = z.infer<typeof ConfigSchema>;
/** Configuration as given by callers: every field optional. */
export type ConfigInput = z.input<typeof ConfigSchema>;

const ENV: Record<string, keyof Config> = {
  HOSTNAME: "hostname",
  PORT: "port",
  FLIGHTDECK_DATA: "dataDir",
  FLIGHTDECK_SECRET: "secret",
  FLIGHTDECK_KV: "kvPath",
  FLIGHTDECK_REDIS_URL: "redisUrl",
  FLIGHTDECK_OUTPUT_STORE: "outputStore",
  FLIGHTDECK_PRESENCE_TTL_MS: "presenceTtlMs",
  FLIGHTDECK_ALLOWED_ORIGINS: "allowedOrigins",
  FLIGHTDECK_MAX_QUEUE: "maxQueuePerAgent",
  FLIGHTDECK_AGENT_TIMEOUT_MS: "agentTimeoutMs",
  FLIGHTDECK_INTERRUPT_GRACE_MS: "interruptGraceMs",
  FLIGHTDECK_LOST_AFTER_MS: "lostAfterMs",
  FLIGHTDECK_COMMAND_TIMEOUT_MS: "commandTimeoutMs",
  FLIGHTDECK_MAX_PEER_BUFFER: "maxPeerBufferedBytes",
  FLIGHTDECK_AGENT_WINDOW_BYTES: "agentOutputWindowBytes",
  FLIGHTDECK_TEST_APPEND_DELAY_MS: "testAppendDelayMs",
  FLIGHTDECK_MAX_TOTAL_BUFFER: "maxTotalBufferedBytes",
  FLIGHTDECK_MAX_CONNECTIONS_PER_USER: "maxConnectionsPerUser",
  FLIGHTDECK_MAX_CONNECTIONS_PER_ADDRESS: "maxConnectionsPerAddress",
  FLIGHTDECK_MAX_UNAUTH_PER_ADDRESS: "maxUnauthenticatedPerAddress",
  FLIGHTDECK_MAX_UNAUTH: "maxUnauthenticated",
  FLIGHTDECK_MAX_UNAUTH_FRAME: "maxUnauthenticatedFrameBytes",
  FLIGHTDECK_INPUT_RATE: "terminalInputPerSecond",
  FLIGHTDECK_INPUT_BYTES_RATE: "terminalInputBytesPerSecond",
  FLIGHTDECK_LOG_FORWARD_MAX_BYTES: "logForwardMaxBytes",
  FLIGHTDECK_LOG_FORWARD_PER_MINUTE: "logForwardPerMinute",
  FLIGHTDECK_RETENTION_MS: "retentionMs",
  FLIGHTDECK_RETENTION_BYTES: "retentionBytes",
  FLIGHTDECK_SEARCH_INDEX_INTERVAL_MS: "searchIndexIntervalMs",
  FLIGHTDECK_REVOCATION_CHECK_MS: "revocationCheckMs",
  FLIGHTDECK_MAX_COMMAND_OUTPUT: "maxCommandOutputBytes",
  FLIGHTDECK_SNAPSHOT_MIN_BYTES: "snapshotMinBytes",
  FLIGHTDECK_LOG: "logLevel",
  FLIGHTDECK_SESSION_TTL: "sessionTtlSeconds",
  FLIGHTDECK_ACCESS_TTL: "accessTtlSeconds",
  FLIGHTDECK_MAX_SESSIONS_PER_TOKEN: "maxSessionsPerToken",
  FLIGHTDECK_MAX_TOKEN_TTL: "maxTokenTtlSeconds",
  FLIGHTDECK_LOGIN_FAILURES: "loginFailureLimit",
  FLIGHTDECK_LOGIN_WINDOW_MS: "loginFailureWindowMs",
  FLIGHTDECK_AUDIT_RETENTION_MS: "auditRetentionMs",
  FLIGHTDECK_AUDIT_REFUSALS_PER_MINUTE: "auditRefusalsPerMinute",
  FLIGHTDECK_ADMIN_USER: "adminUser",
  FLIGHTDECK_CONN_GUARD: "connectionGuard",
  FLIGHTDECK_HEAD_TIMEOUT_MS: "headTimeoutMs",
  FLIGHTDECK_MAX_HEAD_BYTES: "maxHeadBytes",
  FLIGHTDECK_IDLE_TIMEOUT_MS: "idleTimeoutMs",
  FLIGHTDECK_KEEP_ALIVE_TIMEOUT_MS: "keepAliveTimeoutMs",
  FLIGHTDECK_REQUEST_TIMEOUT_MS: "requestTimeoutMs",
  FLIGHTDECK_BODY_TIMEOUT_MS: "bodyTimeoutMs",
  FLIGHTDECK_MAX_TCP_CONNECTIONS: "maxTcpConnections",
  FLIGHTDECK_MAX_TCP_PER_ADDRESS: "maxTcpConnectionsPerAddress",
  FLIGHTDECK_TRUST_PROXY: "trustProxy",
};

/** Names of the environment variables read by {@link loadConfig}. */
export const ENV_VARS: readonly string[] = Object.keys(ENV);

/**
 * Build the configuration from `env` (default: the process environment)
 * merged under `overrides`.
 *
 * @throws {TypeError} naming the first invalid variable or option.
 */
export function loadConfig(
  overrides: ConfigInput = {},
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Config {
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const value = env(name);
    if (value === undefined || value === "") continue;
    fromEnv[key] = key === "allowedOrigins"
      ? value.split(",").map((s) => s.trim()).filter(Boolean)
      : value;
  }
  const result = ConfigSchema.safeParse({ ...fromEnv, ...overrides });
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = String(issue.path[0]);
    const variable = Object.entries(ENV).find(([, k]) => k === key)?.[0];
    throw new TypeError(
      `Invalid configuration "${variable ?? key}": ${issue.message}`,
    );
  }
  return result.data;
}
