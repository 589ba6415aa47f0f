/**
 * The Redis client settings (connectRedis) and the output log's retry,
 * against a real redis-server that is stopped and started again (and a
 * TCP proxy that cuts the connection): Redis trouble fails fast with a
 * STORAGE_UNAVAILABLE error and piles nothing up in the client; a command
 * in flight when the connection drops is never sent again; output waits
 * (unacknowledged) while Redis is away and is stored once when it is back.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { RedisServer } from "./redis_server.ts";
import { withProxiedRedis, withRedisStore } from "./redis_helpers.ts";
import { waitUntil } from "./faults/dashboard.ts";
import {
  connectRedis,
  REDIS_RETRY_CAP_MS,
  RedisOutputStore,
  redisRetryDelay,
  RedisStorage,
} from "../lib/server/redis_storage.ts";
import { storageUnavailable } from "../lib/server/errors.ts";
import { RedisKv } from "../lib/server/redis_kv.ts";
import { OutputLog } from "../lib/server/output_log.ts";
import { queued } from "../lib/server/storage_suite.ts";

/** The client's queue of commands waiting for a connection. */
function offlineQueued(client: Redis): number {
  return (client as unknown as { offlineQueue: { length: number } })
    .offlineQueue.length;
}

Deno.test({
  name:
    "connectRedis: while Redis is down, commands fail at once as STORAGE_UNAVAILABLE and none waits in the client; it reconnects by itself",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start();
    const client = connectRedis(redis.url);
    client.on("error", () => {});
    try {
      assert.equal(await client.ping(), "PONG");
      await redis.stop();
      await waitUntil(
        () => client.status !== "ready",
        10_000,
        "client saw Redis go",
      );
      const sent = Array.from({ length: 1000 }, (_, i) => client.get(`k${i}`));
      assert.equal(offlineQueued(client), 0, "nothing waits in memory");
      const results = await Promise.allSettled(sent);
      for (const result of results) {
        assert.equal(result.status, "rejected");
        assert.ok(
          storageUnavailable((result as PromiseRejectedResult).reason),
          String((result as PromiseRejectedResult).reason),
        );
      }
      await redis.restart();
      await waitUntil(
        () => client.status === "ready",
        10_000,
        "client reconnected",
      );
      assert.equal(await client.ping(), "PONG");
    } finally {
      client.disconnect();
      await redis.close();
    }
  },
});

Deno.test({
  name:
    "connectRedis: a command in flight when the connection drops fails, and is not sent again on the next connection",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withProxiedRedis(async ({ proxy, client }) => {
      assert.equal(await client.ping(), "PONG");
      // The INCR reaches the proxy, which holds it; then the connection
      // drops before it is forwarded.
      proxy.blackhole();
      const incr = client.incr("counter");
      incr.catch(() => {});
      await waitUntil(
        () =>
          (client as unknown as { commandQueue: { length: number } })
            .commandQueue.length > 0,
        5_000,
        "INCR sent",
      );
      proxy.cut();
      proxy.restore();
      const error = await incr.then(() => null, (e) => e);
      assert.ok(error && storageUnavailable(error), String(error));
      await waitUntil(
        () => client.status === "ready",
        10_000,
        "client reconnected",
      );
      // Sent once at most: never again after the reconnect.
      assert.equal(await client.get("counter"), null);
    });
  },
});

Deno.test("redisRetryDelay: 100 ms doubling, capped at 2 s, ±20 %", () => {
  const mid = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 100].map((n) => redisRetryDelay(n, mid)),
    [100, 200, 400, 800, 1600, 2000, 2000],
  );
  assert.equal(REDIS_RETRY_CAP_MS, 2000);
  assert.equal(redisRetryDelay(1, () => 0), 80);
  assert.equal(redisRetryDelay(100, () => 0.999999), 2400);
});

Deno.test({
  name:
    "OutputLog on Redis: output appended while Redis is away waits, unacknowledged, and is stored once when it is back; close() ends the wait",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedisStore(async (redis, client, kv) => {
      await client.ping();
      const store = new RedisOutputStore(client, "fd:", kv);
      const options = {
        retryable: (error: unknown) => storageUnavailable(error) !== null,
        retryDelayMs: () => 20,
      };
      const log = new OutputLog(store, options);
      log.start("c");
      await log.append("c", 1, { stream: "stdout", data: "one\n" }, 4);
      await redis.stop();
      await waitUntil(() => client.status !== "ready", 10_000, "Redis gone");
      const settled: string[] = [];
      const two = log.append("c", 2, { stream: "stdout", data: "two\n" }, 4)
        .then(() => settled.push("2"), () => settled.push("2 failed"));
      const three = log.append("c", 3, { stream: "stderr", data: "3\n" }, 2)
        .then(() => settled.push("3"), () => settled.push("3 failed"));
      await waitUntil(
        () => log.waitingSince !== null,
        10_000,
        "output waits for Redis",
      );
      assert.equal(log.unstoredBytes, 6);
      assert.deepEqual(settled, []);
      // Reads of what is stored fail clearly meanwhile.
      await assert.rejects(
        async () => {
          for await (const _ of log.read("c", 0)) { /* reading */ }
        },
        (error: unknown) => storageUnavailable(error) !== null,
      );
      await redis.restart();
      await Promise.all([two, three]);
      assert.deepEqual(settled, ["2", "3"]);
      assert.equal(log.waitingSince, null);
      assert.equal(log.unstoredBytes, 0);
      const stored: [number, string][] = [];
      for await (const chunk of store.read("c", 0)) {
        stored.push([chunk.seq, chunk.data]);
      }
      assert.deepEqual(stored, [[1, "one\n"], [2, "two\n"], [3, "3\n"]]);
      assert.deepEqual(await store.meta("c"), {
        lastSeq: 3,
        outputBytes: 10,
        storedBytes: 10,
      });

      // close() while waiting: the waiting chunk fails (the agent resends
      // it to the next server), nothing hangs.
      await redis.stop();
      await waitUntil(() => client.status !== "ready", 10_000, "Redis gone");
      const four = log.append("c", 4, { stream: "stdout", data: "4\n" }, 2);
      await waitUntil(() => log.waitingSince !== null, 10_000, "waiting");
      log.close();
      await assert.rejects(four);
      await log.idle();
    }, { appendOnly: true, quiet: true });
  },
});

Deno.test({
  name:
    "RedisStorage.claim: the same server claiming again (its reply was lost) gets true again; another server gets false",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedisStore(async (_redis, client, kv) => {
      await client.ping();
      const here = new RedisStorage(client, kv);
      const elsewhere = new RedisStorage(client, kv);
      const command = queued("c-1", "a", 1);
      await here.insertQueued(command);
      const dispatched = { ...command, dispatched: true };
      assert.equal(await here.claim(dispatched), true);
      assert.equal(await here.claim(dispatched), true, "same claim again");
      assert.equal(await elsewhere.claim(dispatched), false);
      assert.deepEqual([...await here.loadQueues()], []);
      assert.deepEqual(
        (await here.loadDispatched()).map((s) => s.info.id),
        ["c-1"],
      );
    });
  },
});

Deno.test({
  name:
    "OutputLog on Redis: an earlier page asked while a commit hangs is refused once the commit fails and waits for Redis, not held until Redis is back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withProxiedRedis(async ({ proxy, client, kv }) => {
      await client.ping();
      const store = new RedisOutputStore(client, "fd:", kv);
      const log = new OutputLog(store, {
        retryable: (error) => storageUnavailable(error) !== null,
        retryDelayMs: () => 20,
      });
      log.start("c");
      await log.append("c", 1, { stream: "stdout", data: "one\n" }, 4);
      // The network goes silent while chunk 2 is being stored.
      proxy.blackhole();
      const two = log.append("c", 2, { stream: "stdout", data: "two\n" }, 4);
      const page = log.earlierPage("c", 3, 1024);
      page.catch(() => {});
      // The server's PING check drops such a connection; here by hand.
      client.disconnect(true);
      await assert.rejects(
        page,
        (error: unknown) => storageUnavailable(error) !== null,
      );
      proxy.restore();
      await two;
      assert.deepEqual(await log.earlierPage("c", 3, 1024), {
        fromSeq: 1,
        toSeq: 2,
        data: "one\ntwo\n",
        more: false,
      });
    });
  },
});

Deno.test({
  name:
    "OutputLog on Redis: a commit whose connection drops after part of its MULTI was answered waits for Redis and is stored once, it does not fail",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withProxiedRedis(async ({ proxy, client }) => {
      await client.ping();
      // The line index on the same Redis: each commit is one MULTI.
      const store = new RedisOutputStore(client, "fd:", new RedisKv(client));
      const failures: unknown[] = [];
      const log = new OutputLog(store, {
        retryable: (error) => storageUnavailable(error) !== null,
        retryDelayMs: () => 20,
        onError: (error) => failures.push(error),
      });
      log.start("c");
      await log.append("c", 1, { stream: "stdout", data: "one\n" }, 4);
      // A slow link: the MULTI at the start of the next commit is answered
      // ("+OK") long before the rest of its 256 KiB can arrive.
      proxy.throttle(16 * 1024);
      const big = "x".repeat(256 * 1024 - 1) + "\n";
      const two = log.append(
        "c",
        2,
        { stream: "stdout", data: big },
        big.length,
      );
      two.catch(() => {});
      const sent = (client as unknown as {
        commandQueue: {
          length: number;
          peekAt(i: number): { command: { pipelineIndex?: number } };
        };
      }).commandQueue;
      await waitUntil(
        () => sent.length > 0 && sent.peekAt(0).command.pipelineIndex === 1,
        10_000,
        "the MULTI answered, the rest of the transaction not",
      );
      // The connection drops now: ioredis aborts the rest of the pipeline
      // (AbortError), its EXEC included.
      proxy.cut();
      proxy.throttle(0);
      await two;
      assert.deepEqual(failures.map(String), []);
      const stored: [number, number][] = [];
      for await (const chunk of store.read("c", 0)) {
        stored.push([chunk.seq, chunk.data.length]);
      }
      assert.deepEqual(stored, [[1, 4], [2, big.length]]);
      assert.equal((await store.meta("c"))?.lastSeq, 2);
    });
  },
});
