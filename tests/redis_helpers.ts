/**
 * Setup shared by the tests against a real redis-server
 * (tests/redis_server.ts): Redis with a client of its own, a raw agent's
 * command marked started, Redis stopped and back as a server sees it, a
 * real agent and a dashboard on a server in Redis mode.
 *
 * @module
 */
import { Redis } from "ioredis";
import { RedisServer, type RedisServerOptions } from "./redis_server.ts";
import {
  AgentProcess,
  queueCommand,
  type RawAgent,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
} from "./helpers.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { TcpProxy } from "./faults/tcp_proxy.ts";
import { connectRedis, RedisStorage } from "../lib/server/redis_storage.ts";

/** A running redis-server and, made on first use, an ioredis client to it. */
export interface RedisFixture {
  readonly redis: RedisServer;
  /** A plain ioredis client (`new Redis(url)`), made on first use. */
  readonly client: Redis;
}

/**
 * Start a redis-server, run `fn`, then disconnect the client (if `fn` used
 * it) and stop Redis, also when `fn` throws.
 */
export async function withRedis(
  fn: (fixture: RedisFixture) => Promise<void>,
  options: RedisServerOptions = {},
): Promise<void> {
  const redis = await RedisServer.start(options);
  let client: Redis | undefined;
  try {
    await fn({
      redis,
      get client() {
        return client ??= new Redis(redis.url);
      },
    });
  } finally {
    client?.disconnect();
    await redis.close();
  }
}

/** Options of {@link withRedisStore}. */
export interface RedisStoreOptions extends RedisServerOptions {
  /** Ignore the client's `error` events (Redis is stopped on purpose). */
  quiet?: boolean;
}

/**
 * Start a redis-server, a client made by `connectRedis` (the server's
 * settings) and an in-memory Deno KV; run `fn`; then disconnect, close the
 * KV and stop Redis, also when `fn` throws.
 */
export async function withRedisStore(
  fn: (
    redis: RedisServer,
    client: Redis,
    kv: Deno.Kv,
  ) => Promise<void>,
  options: RedisStoreOptions = {},
): Promise<void> {
  const { quiet, ...serverOptions } = options;
  const redis = await RedisServer.start(serverOptions);
  const client = connectRedis(redis.url);
  if (quiet) client.on("error", () => {});
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(redis, client, kv);
  } finally {
    client.disconnect();
    kv.close();
    await redis.close();
  }
}

/**
 * Start a redis-server and a TCP proxy in front of it (to cut or silence
 * the connection), a client made by `connectRedis` through the proxy (its
 * `error` events ignored) and an in-memory Deno KV; run `fn`; then
 * disconnect, close the KV, the proxy and Redis, also when `fn` throws.
 */
export async function withProxiedRedis(
  fn: (fixture: {
    redis: RedisServer;
    proxy: TcpProxy;
    client: Redis;
    kv: Deno.Kv;
  }) => Promise<void>,
): Promise<void> {
  const redis = await RedisServer.start();
  const proxy = new TcpProxy(redis.port);
  const client = connectRedis(`redis://127.0.0.1:${proxy.port}`);
  client.on("error", () => {});
  const kv = await Deno.openKv(":memory:");
  try {
    await fn({ redis, proxy, client, kv });
  } finally {
    client.disconnect();
    kv.close();
    await proxy.close();
    await redis.close();
  }
}

/**
 * Open a `RedisStorage` on `url` (a client made by `connectRedis` and an
 * in-memory Deno KV), as another server would; run `fn`; then disconnect
 * and close the KV, also when `fn` throws.
 */
export async function withRedisStorage(
  url: string,
  fn: (store: RedisStorage, client: Redis) => Promise<void>,
): Promise<void> {
  const client = connectRedis(url);
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(new RedisStorage(client, kv), client);
  } finally {
    client.disconnect();
    kv.close();
  }
}

/**
 * Queue `command` for the raw agent `agentId` from `dash`, wait until the
 * agent got `command:execute` and answer `command:started`; returns the
 * command's id. It does not wait for the `running` status.
 */
export async function startOnRawAgent(
  dash: TestClient,
  agent: RawAgent,
  agentId: string,
  command: string,
): Promise<string> {
  const id = await queueCommand(dash, { agentId, command });
  await agent.waitFor((m) => m.type === "command:execute");
  agent.send("command:started", { commandId: id, startedAt: Date.now() });
  return id;
}

/** Wait until the raw agent gets a `command:execute`; returns its command's id. */
export async function executedId(agent: RawAgent): Promise<string> {
  const execute = await agent.waitFor((m) => m.type === "command:execute");
  return (execute.payload as { command: { id: string } }).command.id;
}

/** The raw agent reports `commandId` completed with exit code 0. */
export function completeOnRawAgent(agent: RawAgent, commandId: string): void {
  agent.send("command:completed", {
    commandId,
    status: "completed",
    exitCode: 0,
    completedAt: Date.now(),
    lastSeq: 0,
  });
}

/** Stop Redis and wait (10 s at most) until `server` reports it not ready. */
export async function stopRedis(
  redis: RedisServer,
  server: TestServer,
): Promise<void> {
  await redis.stop();
  await waitUntil(
    async () => !await server.services.storageReady(),
    10_000,
    "Redis gone",
  );
}

/** Wait (20 s at most) until `server` reports its storage ready again. */
export async function redisBack(server: TestServer): Promise<void> {
  await waitUntil(
    () => server.services.storageReady(),
    20_000,
    "Redis back",
  );
}

/** What {@link withRedisAgent} hands its callback. */
export interface RedisAgentFixture<S extends TestServer> {
  redis: RedisServer;
  server: S;
  operator: TestClient;
  agent: AgentProcess;
}

/**
 * An append-only redis-server, a server on it made by `start` (default
 * {@link startTestServer}), an operator dashboard and a real agent `name`;
 * waits until the dashboard sees the agent online, runs `fn`, then kills the
 * agent, closes the dashboard, the server and Redis.
 */
export async function withRedisAgent<S extends TestServer = TestServer>(
  name: string,
  fn: (fixture: RedisAgentFixture<S>) => Promise<void>,
  start: (options: { redisUrl: string }) => Promise<S> = (options) =>
    startTestServer(options) as Promise<S>,
): Promise<void> {
  await withRedis(async ({ redis }) => {
    await using server = await start({ redisUrl: redis.url });
    const operator = await TestClient.dashboard(server);
    const agent = await AgentProcess.start(server, name);
    try {
      await waitAgentStatus(operator, name, "online");
      await fn({ redis, server, operator, agent });
    } finally {
      await agent.kill();
      await operator.close();
    }
  }, { appendOnly: true });
}
