import assert from "node:assert/strict";
import { deployWarnings } from "./deploy.ts";

const SECRET = "s".repeat(32);
const REDIS = "redis://redis.example:6379";

Deno.test("deployWarnings(): off Deploy none; on Deploy one per missing setting", () => {
  assert.deepEqual(deployWarnings(undefined, {}), []);
  assert.deepEqual(deployWarnings("", {}), []);
  assert.deepEqual(
    deployWarnings("abc123", { redisUrl: REDIS, secret: SECRET }),
    [],
  );
  const both = deployWarnings("abc123", {});
  assert.equal(both.length, 2);
  assert.match(both[0], /Deno Deploy without FLIGHTDECK_REDIS_URL/);
  assert.match(both[1], /Deno Deploy without FLIGHTDECK_SECRET/);
  assert.deepEqual(deployWarnings("abc123", { secret: SECRET }), [both[0]]);
  assert.deepEqual(deployWarnings("abc123", { redisUrl: REDIS }), [both[1]]);
});
