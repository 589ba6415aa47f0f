/**
 * The server with `FLIGHTDECK_REDIS_URL` (`redisUrl`) set, against a real
 * redis-server: commands, their queue entries and output go to Redis, not to
 * the server's Deno KV, so a second server (with a KV of its own) on the
 * same Redis finds them; `/api/ready` follows Redis going away and back.
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  outputOf,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";
import { RedisServer } from "./redis_server.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { freePort } from "./faults/server_process.ts";
import { connectRedis, RedisStorage } from "../lib/server/redis_storage.ts";

const LINES = 20_000;
const EXPECTED = Array.from({ length: LINES }, (_, i) => `${i + 1}\n`).join("");

async function textOf(chunks: AsyncIterable<{ data: string; seq: number }>) {
  let text = "";
  const seqs: number[] = [];
  for await (const chunk of chunks) {
    text += chunk.data;
    seqs.push(chunk.seq);
  }
  return { text, seqs };
}

Deno.test({
  name:
    "with redisUrl, commands and output are stored in Redis: a second server with its own KV replays them",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start();
    try {
      const first = await startTestServer({ redisUrl: redis.url });
      let id: string;
      let queuedId: string;
      const agent = await AgentProcess.start(first, "redis-agent");
      try {
        await agent.waitStderr(/connected to /, 20_000);
        const operator = await TestClient.dashboard(first);
        id = await queueCommand(operator, {
          agentId: "redis-agent",
          command: `seq 1 ${LINES}`,
        });
        const final = await waitFinal(operator, id, 60_000);
        assert.equal(final.status, "completed");
        assert.equal(outputOf(operator, id).text, EXPECTED);
        // One runs, one waits behind it; then the agent dies.
        const sleeper = await queueCommand(operator, {
          agentId: "redis-agent",
          command: "sleep 30",
        });
        await operator.waitFor((m) =>
          m.type === "command:status" && m.payload.command.id === sleeper &&
          m.payload.command.status === "running"
        );
        queuedId = await queueCommand(operator, {
          agentId: "redis-agent",
          command: "echo later",
        });
        await agent.kill("SIGKILL");
        await waitAgentStatus(operator, "redis-agent", "offline");
        // Nothing of it in the server's own KV.
        assert.equal((await first.services.kv.get(["cmd", id])).value, null);
        assert.equal(
          (await first.services.kv.get(["out_meta", id])).value,
          null,
        );
        await operator.close();
      } finally {
        await agent.kill();
        await first.shutdown();
      }

      // Redis has the record, the queue entry and the output stream.
      const client = connectRedis(redis.url);
      const kv = await Deno.openKv(":memory:");
      try {
        const store = new RedisStorage(client, kv);
        assert.equal((await store.getCommand(id))?.info.status, "completed");
        assert.deepEqual(
          [...await store.loadQueues()],
          [["redis-agent", [queuedId]]],
        );
        const stored = await textOf(store.output.read(id, 0));
        assert.equal(stored.text, EXPECTED);
        assert.deepEqual(
          stored.seqs,
          Array.from({ length: stored.seqs.length }, (_, i) => i + 1),
        );
        assert.equal(await client.xlen(`fd:out:${id}`) > 0, true);

        // A second server (a new in-memory KV) on the same Redis.
        const second = await startTestServer({ redisUrl: redis.url });
        try {
          const info = await second.services.commands.get(id);
          assert.equal(info?.status, "completed");
          assert.equal(
            (await second.services.commands.get(queuedId))?.status,
            "queued",
          );
          const replay = await textOf(
            second.services.commands.readOutput(id, 0),
          );
          assert.equal(replay.text, stored.text);
          // Resume by seq: what follows seq 3.
          const resumed = await textOf(
            second.services.commands.readOutput(id, 3),
          );
          assert.deepEqual(resumed.seqs, stored.seqs.slice(3));
          // Its search index (in this server's KV) is built from Redis.
          await second.services.search.catchUp();
          const hits = await second.services.search.search("150", 5);
          assert.deepEqual(
            hits.map((h) => [h.commandId, h.line, h.text]),
            [[id, 150, "150"]],
          );
          // The agent comes back to the second server: the queued command
          // runs there, once.
          const operator = await TestClient.dashboard(second);
          const back = await AgentProcess.start(second, "redis-agent");
          try {
            const done = await waitFinal(operator, queuedId, 30_000);
            assert.equal(done.status, "completed");
            assert.equal(outputOf(operator, queuedId).text, "later\n");
            assert.deepEqual([...await store.loadQueues()], []);
          } finally {
            await back.kill();
            await operator.close();
          }
        } finally {
          await second.shutdown();
        }
      } finally {
        await client.quit();
        kv.close();
      }
    } finally {
      await redis.close();
    }
  },
});

async function readiness(url: string): Promise<number> {
  const response = await fetch(`${url}/api/ready`);
  await response.body?.cancel();
  return response.status;
}

Deno.test({
  name:
    "/api/ready is 503 while Redis is down and 200 again when it is back; what was stored before is still there (append-only file)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start({ appendOnly: true });
    try {
      await using server = await startTestServer({ redisUrl: redis.url });
      assert.equal(await readiness(server.url), 200);
      const agent = await AgentProcess.start(server, "ready-agent");
      let id: string;
      try {
        await agent.waitStderr(/connected to /, 20_000);
        const operator = await TestClient.dashboard(server);
        id = await queueCommand(operator, {
          agentId: "ready-agent",
          command: "echo kept",
        });
        assert.equal((await waitFinal(operator, id)).status, "completed");
        await operator.close();
      } finally {
        await agent.kill();
      }
      await redis.stop();
      assert.equal(await readiness(server.url), 503);
      await redis.restart();
      await waitUntil(
        async () => await readiness(server.url) === 200,
        20_000,
        "ready again",
      );
      const client = connectRedis(redis.url);
      const kv = await Deno.openKv(":memory:");
      try {
        const store = new RedisStorage(client, kv);
        assert.equal((await store.getCommand(id))?.info.status, "completed");
        assert.equal((await textOf(store.output.read(id, 0))).text, "kept\n");
      } finally {
        await client.quit();
        kv.close();
      }
    } finally {
      await redis.close();
    }
  },
});

Deno.test("/api/ready is 200 without Redis (Deno KV only)", async () => {
  await using server = await startTestServer();
  assert.equal(await readiness(server.url), 200);
});

Deno.test({
  name:
    "a queued command another server claimed in Redis first is not started here; the next one is",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start();
    const client = connectRedis(redis.url);
    const kv = await Deno.openKv(":memory:");
    try {
      await using server = await startTestServer({ redisUrl: redis.url });
      const agent = await AgentProcess.start(server, "claim-agent");
      const operator = await TestClient.dashboard(server);
      try {
        await agent.waitStderr(/connected to /, 20_000);
        const busy = await queueCommand(operator, {
          agentId: "claim-agent",
          command: "sleep 30",
        });
        await operator.waitFor((m) =>
          m.type === "command:status" && m.payload.command.id === busy &&
          m.payload.command.status === "running"
        );
        const taken = await queueCommand(operator, {
          agentId: "claim-agent",
          command: "echo taken",
        });
        const next = await queueCommand(operator, {
          agentId: "claim-agent",
          command: "echo next",
        });
        // Another server (another client of the same Redis) claims it.
        const elsewhere = new RedisStorage(client, kv);
        assert.equal(
          (await elsewhere.claimNext("claim-agent"))?.info.id,
          taken,
        );
        operator.send("command:interrupt", { commandId: busy });
        assert.equal((await waitFinal(operator, next)).status, "completed");
        assert.equal(outputOf(operator, next).text, "next\n");
        assert.ok(
          !operator.of("command:status").some((c) =>
            c.command.id === taken && c.command.status === "running"
          ),
          "never started here",
        );
        assert.ok(!agent.stderr.includes(`running ${taken}`));
      } finally {
        await operator.close();
        await agent.kill();
      }
    } finally {
      await client.quit();
      kv.close();
      await redis.close();
    }
  },
});

Deno.test("a server whose Redis cannot be reached does not start, and says so without the password", async () => {
  const port = freePort();
  await assert.rejects(
    startTestServer({ redisUrl: `redis://:hunter2@127.0.0.1:${port}` }),
    (error: unknown) => {
      const message = String(error);
      assert.match(
        message,
        new RegExp(
          `Cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}`,
        ),
      );
      assert.ok(!message.includes("hunter2"));
      return true;
    },
  );
});
