/**
 * Review findings (issue 10, cluster mode): tests that fail on main.
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisServer } from "./redis_server.ts";
import { ServerProcess } from "./faults/server_process.ts";
import {
  queueCommand,
  RawAgent,
  startTestServer,
  TestClient,
  type TestServer,
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

Deno.test(
  "review: a storage error while answering another node's hello does not crash the node (no unhandled rejection)",
  opts,
  async () => {
    const redis = await RedisServer.start();
    const client = new Redis(redis.url);
    try {
      // Node a: a real server process holding the agent.
      await using a = await ServerProcess.start({
        env: { FLIGHTDECK_REDIS_URL: redis.url },
      });
      const server = a as unknown as TestServer;
      const agent = await RawAgent.connect(server, "r-2");
      const dash = await TestClient.dashboard(server, "operator");
      try {
        await waitAgentStatus(dash, "r-2", "online");
        const running = await queueCommand(dash, {
          agentId: "r-2",
          command: "sleep 600",
        });
        await agent.waitFor((m) => m.type === "command:execute");
        agent.send("command:started", {
          commandId: running,
          startedAt: Date.now(),
        });
        const queued = await queueCommand(dash, {
          agentId: "r-2",
          command: "echo queued",
        });
        await waitStatus(dash, queued, "queued");
        // Stand-in for a Redis error at that moment (a dropped connection,
        // a timeout): reading the queued command's record fails.
        await client.del(`fd:cmd:${queued}`);
        await client.hset(`fd:cmd:${queued}`, "x", "1");
        // Node b starts and says hello: node a announces its agents,
        // reading the queued command from storage.
        await using b = await ServerProcess.start({
          env: { FLIGHTDECK_REDIS_URL: redis.url },
        });
        const other = await TestClient.dashboard(
          b as unknown as TestServer,
          "operator",
        );
        try {
          const exited = await Promise.race([
            a.status.then((status) => status),
            waitAgentStatus(other, "r-2", "online").then(() => null),
          ]);
          assert.equal(
            exited,
            null,
            `node a exited: ${a.stderr.split("\n").slice(-12).join("\n")}`,
          );
          // A request from node b goes to node a, which must still be up.
          const third = await queueCommand(other, {
            agentId: "r-2",
            command: "echo third",
          });
          assert.ok(third);
          assert.equal(a.running, true);
        } finally {
          await other.close();
        }
      } finally {
        await dash.close();
        await agent.close();
      }
    } finally {
      client.disconnect();
      await redis.close();
    }
  },
);
