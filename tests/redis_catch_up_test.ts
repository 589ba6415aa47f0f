/**
 * What changes while Redis is away is written once it is back: an agent
 * that goes offline during the outage is recorded offline in Redis (for
 * other servers and restarts), and a command that finishes during the
 * outage is recorded with its exit code while the next one waits in its
 * place, then starts once.
 */
import assert from "node:assert/strict";
import {
  loggedTestServer,
  outputOf,
  queueCommand,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { storageUnavailable } from "../lib/server/errors.ts";
import {
  redisBack,
  stopRedis,
  withRedisAgent,
  withRedisStorage,
} from "./redis_helpers.ts";

Deno.test({
  name:
    "Redis away: an agent gone offline meanwhile is recorded offline in Redis once it is back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedisAgent(
      "away-agent",
      async ({ redis, server, operator, agent }) => {
        await stopRedis(redis, server);
        await agent.kill("SIGKILL");
        await waitAgentStatus(operator, "away-agent", "offline");
        // Its record could not be written.
        await waitUntil(
          () => server.lines.some((l) => l.includes("Saving agent failed")),
          20_000,
          "a failed write of the agent's record",
        );
        await redis.restart();
        await redisBack(server);
        await withRedisStorage(redis.url, async (store) => {
          await waitUntil(
            async () =>
              (await store.loadAgents()).find((a) => a.id === "away-agent")
                ?.status === "offline",
            10_000,
            "offline in Redis",
            () => "still online in Redis",
          );
        });
      },
      loggedTestServer,
    );
  },
});

Deno.test({
  name:
    "Redis away when a command finishes: recorded once Redis is back; the next one keeps its place and starts once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedisAgent(
      "queue-agent",
      async ({ redis, server, operator, agent }) => {
        // The first one ends by itself once a file appears; the second one
        // waits behind it.
        const dir = await Deno.makeTempDir();
        const flag = `${dir}/go`;
        const first = await queueCommand(operator, {
          agentId: "queue-agent",
          command: `while [ ! -e ${flag} ]; do sleep 0.05; done; echo first`,
        });
        await operator.waitFor((m) =>
          m.type === "command:status" && m.payload.command.id === first &&
          m.payload.command.status === "running"
        );
        const second = await queueCommand(operator, {
          agentId: "queue-agent",
          command: "echo second; exit 3",
        });
        await stopRedis(redis, server);
        // The first ends while Redis is away: its completion cannot be
        // recorded, nor the second claimed.
        await Deno.writeTextFile(flag, "");
        await agent.waitStderr(`${first} completed`, 20_000);
        assert.equal(
          server.services.commands.queueOf("queue-agent").length,
          1,
          "the second keeps its place",
        );
        await redis.restart();
        assert.equal((await waitFinal(operator, first, 30_000)).exitCode, 0);
        const done = await waitFinal(operator, second, 30_000);
        assert.equal(done.status, "failed");
        assert.equal(done.exitCode, 3);
        assert.deepEqual(
          operator.of("command:status").filter((s) =>
            s.command.id === second && s.command.status === "running"
          ).length,
          1,
          "started once",
        );
        await Deno.remove(dir, { recursive: true });
      },
    );
  },
});

Deno.test({
  name:
    "Redis away: an interrupt that cannot be stored changes nothing (the queued command stays queued, the running one runs on)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRedisAgent("int-agent", async ({ redis, server, operator }) => {
      const dir = await Deno.makeTempDir();
      try {
        const flag = `${dir}/go`;
        const running = await queueCommand(operator, {
          agentId: "int-agent",
          command: `while [ ! -e ${flag} ]; do sleep 0.05; done; echo ran`,
        });
        await operator.waitFor((m) =>
          m.type === "command:status" && m.payload.command.id === running &&
          m.payload.command.status === "running"
        );
        const waiting = await queueCommand(operator, {
          agentId: "int-agent",
          command: "echo waited",
        });
        await stopRedis(redis, server);
        const { commands } = server.services;
        const by = { actor: "op", role: "operator" as const };
        for (const id of [waiting, running]) {
          await assert.rejects(
            commands.interrupt(id, "stop", by),
            (error: unknown) => storageUnavailable(error) !== null,
          );
        }
        assert.deepEqual(
          commands.queueOf("int-agent").map((q) => q.commandId),
          [waiting],
        );
        await redis.restart();
        await redisBack(server);
        await Deno.writeTextFile(flag, "");
        const ran = await waitFinal(operator, running, 30_000);
        assert.equal(ran.status, "completed");
        const waited = await waitFinal(operator, waiting, 30_000);
        assert.equal(waited.status, "completed");
        assert.equal(outputOf(operator, waited.id).text, "waited\n");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});
