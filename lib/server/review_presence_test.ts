/**
 * Review (issue 10): `FLIGHTDECK_LOST_AFTER_MS=0` is valid configuration
 * (config.ts allows 0); ClusterNode passes it to Presence.care as the
 * care record's TTL.
 */
import assert from "node:assert/strict";
import { RedisServer } from "../../tests/redis_server.ts";
import { connectRedis } from "./redis_storage.ts";
import { Presence } from "./cluster.ts";

Deno.test("review: Presence.care works with lostAfterMs 0 (a valid setting)", async () => {
  const server = await RedisServer.start();
  const redis = connectRedis(server.url);
  try {
    const presence = new Presence(redis, { nodeId: "n1", ttlMs: 300 });
    assert.equal(await presence.care("agent-1", 0), true);
  } finally {
    redis.disconnect();
    await server.close();
  }
});
