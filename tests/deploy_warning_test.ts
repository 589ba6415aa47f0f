/**
 * The server started as on Deno Deploy (`DENO_DEPLOYMENT_ID` set) without
 * FLIGHTDECK_REDIS_URL and FLIGHTDECK_SECRET warns about both at start;
 * started elsewhere, it does not.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./faults/server_process.ts";
import { deployWarnings } from "../lib/server/deploy.ts";

Deno.test({
  name:
    "deploy: a server on Deno Deploy without Redis and secret warns at start, one elsewhere does not",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    {
      await using deploy = await ServerProcess.start({
        env: { DENO_DEPLOYMENT_ID: "abc123", FLIGHTDECK_SECRET: "" },
      });
      const warnings = deploy.stderr.split("\n").filter((line) =>
        line.includes("Deno Deploy")
      ).map((line) => JSON.parse(line));
      // One warning for each, as written.
      assert.deepEqual(
        warnings.map((w) => [w.level, w.msg]),
        deployWarnings("abc123", {}).map((msg) => ["warn", msg]),
      );
    }
    {
      await using local = await ServerProcess.start({
        env: { FLIGHTDECK_SECRET: "" },
      });
      assert.ok(!local.stderr.includes("Deno Deploy"), local.stderr);
    }
  },
});
