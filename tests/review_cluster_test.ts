/**
 * Review findings (issue 10, cluster mode): tests that fail on main.
 */
import assert from "node:assert/strict";
import { RedisServer } from "./redis_server.ts";
import {
  queueCommand,
  RawAgent,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitStatus,
} from "./helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "review: a running command whose agent left and whose node then stops ends lost on a node that was already running",
  opts,
  async () => {
    const redis = await RedisServer.start();
    try {
      // Node b runs all along, with a short lost timer.
      await using b = await startTestServer({
        redisUrl: redis.url,
        lostAfterMs: 200,
        presenceTtlMs: 300,
      });
      const dash = await TestClient.dashboard(b, "operator");
      try {
        let running: string;
        {
          // The agent's node: its own lost timer is long, and it stops
          // (gracefully) before that timer fires.
          await using a = await startTestServer({
            redisUrl: redis.url,
            lostAfterMs: 600_000,
            presenceTtlMs: 300,
          });
          const agent = await RawAgent.connect(a, "r-1");
          await waitAgentStatus(dash, "r-1", "online");
          running = await queueCommand(dash, {
            agentId: "r-1",
            command: "sleep 600",
          });
          await agent.waitFor((m) => m.type === "command:execute");
          agent.send("command:started", {
            commandId: running,
            startedAt: Date.now(),
          });
          await waitStatus(dash, running, "running");
          // The agent goes away for good (its machine died).
          await agent.close();
          await waitAgentStatus(dash, "r-1", "offline");
        }
        // Single server: the restarted server re-arms the lost timer. Here
        // node b keeps running: someone must end the command `lost`.
        const lost = await waitStatus(dash, running, "lost", 10_000);
        assert.equal(lost.status, "lost");
      } finally {
        await dash.close();
      }
    } finally {
      await redis.close();
    }
  },
);
