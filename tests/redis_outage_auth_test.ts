/**
 * Sign-ins while Redis (which holds them in cluster mode) is away, on a
 * real server with a real redis-server: monitoring and open dashboards keep
 * working, a token this server read as revoked before the outage stays
 * refused, and what cannot be checked gets a clear STORAGE_UNAVAILABLE (503
 * from HTTP, an `error` and close 1001 on sockets), never a 500.
 */
import assert from "node:assert/strict";
import { RawAgent, startTestServer, TestClient } from "./helpers.ts";
import { RedisServer } from "./redis_server.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { postLogin } from "./session_helpers.ts";
import { connectRedis } from "../lib/server/redis_storage.ts";
import { RedisKv } from "../lib/server/redis_kv.ts";
import { AuthSessions } from "../lib/server/auth_sessions.ts";
import { STORAGE_UNAVAILABLE_MESSAGE } from "../lib/server/errors.ts";

function metrics(url: string, token: string): Promise<Response> {
  return fetch(`${url}/api/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
}

async function status(response: Promise<Response>): Promise<number> {
  const answer = await response;
  await answer.body?.cancel();
  return answer.status;
}

/** A socket to `path` with `token` in the header, not yet answered. */
async function socket(
  wsUrl: string,
  path: string,
  token: string,
): Promise<TestClient> {
  const client = new TestClient(`${wsUrl}${path}`, {
    authorization: `Bearer ${token}`,
  });
  await client.opened();
  return client;
}

/** Wait for STORAGE_UNAVAILABLE and the close with 1001 on `client`. */
async function refusedUnavailable(client: TestClient): Promise<void> {
  const error = await client.until(() => client.of("error")[0]);
  assert.deepEqual(
    { code: error.code, message: error.message },
    { code: "STORAGE_UNAVAILABLE", message: STORAGE_UNAVAILABLE_MESSAGE },
  );
  assert.deepEqual(await client.waitClosed(), {
    code: 1001,
    reason: "Storage unavailable",
  });
}

Deno.test({
  name:
    "Redis away: metrics scrapers and open dashboards keep working, a token read as revoked before stays refused, unchecked sign-ins get STORAGE_UNAVAILABLE (503, or error and 1001 on sockets), /login 503 uncounted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start();
    const clients: TestClient[] = [];
    try {
      await using server = await startTestServer({ redisUrl: redis.url });
      const { auth } = server.services;
      const open = await TestClient.dashboard(server);
      clients.push(open);
      const scraper = await server.token("viewer");
      const revoked = await server.token("operator");
      const unused = await server.token("operator");
      const agent = await server.token("agent", "outage-agent");
      // A scraper reads metrics at its interval: its token was checked.
      assert.equal(await status(metrics(server.url, scraper)), 200);
      assert.equal(await status(metrics(server.url, revoked)), 200);
      // Another server revokes a token; this one reads the revocation.
      const other = connectRedis(redis.url);
      try {
        await new AuthSessions(new RedisKv(other), auth, {
          accessTtlSeconds: 900,
          sessionTtlSeconds: 86400,
        }).revoke(await auth.verify(revoked));
      } finally {
        other.disconnect();
      }
      assert.equal(await status(metrics(server.url, revoked)), 401);

      await redis.stop();
      await waitUntil(
        async () => !await server.services.storageReady(),
        10_000,
        "Redis gone",
      );
      // The first failed read.
      const refused = await metrics(server.url, unused);
      assert.equal(refused.status, 503);
      assert.deepEqual(await refused.json(), {
        error: {
          code: "STORAGE_UNAVAILABLE",
          message: STORAGE_UNAVAILABLE_MESSAGE,
          recoverable: true,
        },
      });
      // Monitoring keeps working; the revoked token stays refused.
      assert.equal(await status(metrics(server.url, scraper)), 200);
      assert.equal(await status(metrics(server.url, revoked)), 401);

      // Sockets: a recently checked token is accepted, a revoked one
      // refused, one that cannot be checked refused clearly (reconnect).
      const again = await socket(server.wsUrl, "/ws/dashboard", scraper);
      clients.push(again);
      await again.waitFor((m) => m.type === "agent:list");
      const gone = await socket(server.wsUrl, "/ws/dashboard", revoked);
      clients.push(gone);
      assert.equal((await gone.waitClosed()).code, 4401);
      const unchecked = await socket(server.wsUrl, "/ws/dashboard", unused);
      clients.push(unchecked);
      await refusedUnavailable(unchecked);
      const inBand = new TestClient(`${server.wsUrl}/ws/dashboard`);
      clients.push(inBand);
      await inBand.opened();
      inBand.send("dashboard:connect", { token: unused }, "c1");
      await refusedUnavailable(inBand);
      const agentSocket = await socket(server.wsUrl, "/ws/agent", agent);
      clients.push(agentSocket);
      await refusedUnavailable(agentSocket);

      // Renewal is a write: a clear error, and the dashboard stays open.
      open.send("auth:refresh", {}, "r1");
      const error = await open.until(() =>
        open.of("error").find((e) => e.replyTo === "r1")
      );
      assert.equal(error.code, "STORAGE_UNAVAILABLE");
      open.send("heartbeat", { ts: 1 }, "h1");
      await open.waitFor((m) => m.type === "heartbeat");
      assert.equal(open.closed, null);

      // Sign-in: 503 with the reason on the page, not counted as a failure.
      const limit = server.services.config.loginFailureLimit;
      for (let i = 0; i <= limit; i++) {
        const login = await postLogin(server, unused);
        assert.equal(login.status, 503);
        assert.match(await login.text(), /cannot reach its storage/);
      }
      assert.equal(server.services.loginThrottle.size, 0);

      // Redis is back: the unchecked token works again.
      await redis.restart();
      await waitUntil(
        () => server.services.storageReady(),
        20_000,
        "Redis back",
      );
      await waitUntil(
        async () => await status(metrics(server.url, unused)) === 200,
        20_000,
        "the unchecked token accepted",
      );
    } finally {
      for (const client of clients) await client.close();
      await redis.close();
    }
  },
});

Deno.test({
  name:
    "Redis away: a connected agent that connects again is refused with STORAGE_UNAVAILABLE and 1001 (so it retries), never left open to get AUTH_FAILED; it connects once Redis is back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start();
    const clients: TestClient[] = [];
    try {
      await using server = await startTestServer({ redisUrl: redis.url });
      const token = await server.token("agent", "live-agent");
      const live = await RawAgent.connect(server, "live-agent", { token });
      clients.push(live.client);
      await redis.stop();
      await waitUntil(
        async () => !await server.services.storageReady(),
        10_000,
        "Redis gone",
      );
      // Its socket drops; it connects again at once. The sign-in is
      // accepted (checked recently), but taking the agent over needs Redis.
      await live.close();
      const again = await RawAgent.open(server, "live-agent");
      clients.push(again.client);
      again.hello(token);
      await refusedUnavailable(again.client);
      assert.equal(again.client.of("error").length, 1);

      await redis.restart();
      await waitUntil(
        () => server.services.storageReady(),
        20_000,
        "Redis back",
      );
      const back = await RawAgent.connect(server, "live-agent", { token });
      clients.push(back.client);
    } finally {
      for (const client of clients) await client.close();
      await redis.close();
    }
  },
});
