/**
 * Cluster mode with two servers in this process on one real Redis, a raw
 * agent on one and dashboards on the other: what a dashboard does reaches
 * the agent through the agent's node, byte-exact, with the same checks as
 * on one server; a queued command of an offline agent is cancelled from
 * another node and the agent's next node never runs it.
 */
import assert from "node:assert/strict";
import { RedisServer } from "./redis_server.ts";
import {
  errorReply,
  outputOf,
  queueCommand,
  RawAgent,
  type RawMessage,
  rawOf,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitRaw,
  waitStatus,
} from "./helpers.ts";
import { startOnRawAgent } from "./redis_helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function withNodes(
  fn: (
    a: TestServer,
    b: TestServer,
    track: (client: TestClient) => TestClient,
  ) => Promise<void>,
): Promise<void> {
  const redis = await RedisServer.start();
  const clients: TestClient[] = [];
  try {
    await using a = await startTestServer({ redisUrl: redis.url });
    await using b = await startTestServer({ redisUrl: redis.url });
    try {
      await fn(a, b, (client) => {
        clients.push(client);
        return client;
      });
    } finally {
      for (const client of clients) await client.close();
    }
  } finally {
    await redis.close();
  }
}

/** Wait until `agent` got `type` matching `match`; returns its payload. */
async function received(
  agent: RawAgent,
  type: string,
  match: (payload: Record<string, unknown>) => boolean = () => true,
): Promise<Record<string, unknown>> {
  const message = await agent.waitFor((m) =>
    m.type === type && match(m.payload as Record<string, unknown>)
  );
  return message.payload as Record<string, unknown>;
}

Deno.test(
  "cluster: control, input, resize, interrupt and emergency stop from another node reach the agent",
  opts,
  async () => {
    await withNodes(async (a, b, track) => {
      await using agent = await RawAgent.connect(a, "n-1");
      const dash = track(await TestClient.dashboard(b, "admin"));
      const other = track(await TestClient.dashboard(b, "operator"));
      const local = track(await TestClient.dashboard(a, "operator"));
      await waitAgentStatus(dash, "n-1", "online");
      const first = await queueCommand(dash, {
        agentId: "n-1",
        command: "cat",
      });
      const execute = await received(agent, "command:execute");
      assert.equal((execute.command as { id: string }).id, first);
      agent.send("command:started", {
        commandId: first,
        startedAt: Date.now(),
      });
      await waitStatus(dash, first, "running");
      await waitStatus(local, first, "running");

      await takeControl(dash, "n-1");
      const holder = rawOf(local, "session:controller").at(-1)?.payload.holder;
      const ack = rawOf(dash, "connection:ack")[0].payload;
      assert.deepEqual(holder, {
        userId: ack.user.id,
        connectionId: ack.connectionId,
      });
      assert.equal(
        await errorReply(dash, "terminal:input", {
          agentId: "n-1",
          data: "héllo\r\x1b[A",
        }),
        null,
      );
      assert.deepEqual(await received(agent, "terminal:input"), {
        commandId: first,
        data: "héllo\r\x1b[A",
      });
      assert.equal(
        await errorReply(dash, "terminal:resize", {
          agentId: "n-1",
          cols: 91,
          rows: 27,
        }),
        null,
      );
      assert.deepEqual(await received(agent, "terminal:resize"), {
        commandId: first,
        cols: 91,
        rows: 27,
      });
      // Not the controller: refused on the agent's node, as on one server.
      const refused = await errorReply(other, "terminal:input", {
        agentId: "n-1",
        data: "x",
      });
      assert.equal(refused?.payload.code, "NOT_CONTROLLER");
      assert.equal(
        agent.raw.filter((m) => m.type === "terminal:input").length,
        1,
      );

      // Queued behind it, then an interrupt of the running one.
      const second = await queueCommand(dash, {
        agentId: "n-1",
        command: "echo 2",
      });
      await waitStatus(local, second, "queued");
      dash.send("command:interrupt", { commandId: first, reason: "enough" });
      assert.deepEqual(
        await received(
          agent,
          "command:interrupt",
          (p) => p.commandId === first,
        ),
        { commandId: first, reason: "enough", graceMs: 2000 },
      );
      // The emergency stop from node b cancels what node a queued.
      dash.send("emergency:stop", { reason: "stop all" });
      const cancelled = await waitStatus(dash, second, "cancelled");
      assert.equal(cancelled.endedBy?.reason, "stop all");
      await waitStatus(local, second, "cancelled");

      // The controller's connection closes: node a releases its control.
      await dash.close();
      await local.until(
        () =>
          rawOf(local, "session:controller").at(-1)?.payload.holder === null,
        { what: "control released" },
      );
    });
  },
);

Deno.test(
  "cluster: a queued command of an offline agent cancelled from another node is never run by the agent's next node",
  opts,
  async () => {
    await withNodes(async (a, b, track) => {
      const agent = await RawAgent.connect(a, "n-2");
      const dash = track(await TestClient.dashboard(b, "operator"));
      await waitAgentStatus(dash, "n-2", "online");
      const first = await startOnRawAgent(dash, agent, "n-2", "sleep 1");
      const second = await queueCommand(dash, {
        agentId: "n-2",
        command: "echo cancelled",
      });
      const third = await queueCommand(dash, {
        agentId: "n-2",
        command: "echo third",
      });
      await waitStatus(dash, third, "queued");
      await agent.close();
      await waitAgentStatus(dash, "n-2", "offline");
      // Nobody holds the agent: cancelled in storage, from node b.
      dash.send("command:interrupt", { commandId: second }, "cancel-2");
      const reply = await waitRaw(
        dash,
        (m: RawMessage) => m.payload?.replyTo === "cancel-2",
      );
      assert.equal(reply.type, "command:status");
      assert.equal(reply.payload.command.status, "cancelled");
      // Back on node b this time: it loads the queue from storage.
      await using again = await RawAgent.open(b, "n-2");
      again.send("agent:connect", {
        token: await b.token("agent", "n-2"),
        agentId: "n-2",
        name: "n-2",
        type: "shell",
        capabilities: ["shell"],
        hostname: "raw-host",
        version: "1.0.0",
        running: [{ commandId: first, lastSeq: 0 }],
      });
      await again.waitFor((m) => m.type === "connection:ack");
      again.send("command:completed", {
        commandId: first,
        status: "completed",
        exitCode: 0,
        completedAt: Date.now(),
        lastSeq: 0,
      });
      const next = await received(again, "command:execute");
      assert.equal((next.command as { id: string }).id, third);
      assert.equal(
        again.raw.filter((m) =>
          m.type === "command:execute" && m.payload.command.id === second
        ).length,
        0,
      );
      await waitStatus(dash, first, "completed");
    });
  },
);

Deno.test(
  "cluster: a node that starts, or one running already, runs the lost timer of a running command whose agent no node holds",
  opts,
  async () => {
    const redis = await RedisServer.start();
    try {
      // Node b looks for such agents every presence TTL; node c at start.
      await using b = await startTestServer({
        redisUrl: redis.url,
        lostAfterMs: 200,
      });
      const dash = await TestClient.dashboard(b, "operator");
      try {
        let running: string;
        {
          await using a = await startTestServer({ redisUrl: redis.url });
          const agent = await RawAgent.connect(a, "n-3");
          await waitAgentStatus(dash, "n-3", "online");
          running = await startOnRawAgent(dash, agent, "n-3", "sleep 600");
          await waitStatus(dash, running, "running");
          await agent.close();
          await waitAgentStatus(dash, "n-3", "offline");
          // Node a stops (its lost timer with it) before it fires.
        }
        await using c = await startTestServer({
          redisUrl: redis.url,
          lostAfterMs: 200,
        });
        const lost = await waitStatus(dash, running, "lost");
        assert.equal(lost.endedBy?.role, "system");
        assert.equal(
          lost.endedBy?.reason,
          "the agent went offline and was not back within 200 ms",
        );
        assert.ok(c);
      } finally {
        await dash.close();
      }
    } finally {
      await redis.close();
    }
  },
);

Deno.test(
  "cluster: an emergency stop cancels the queued commands of an agent no node holds",
  opts,
  async () => {
    const redis = await RedisServer.start();
    try {
      await using b = await startTestServer({ redisUrl: redis.url });
      const admin = await TestClient.dashboard(b, "admin");
      try {
        let queued: string;
        {
          // The agent's node stops after the agent left: nobody holds it.
          await using a = await startTestServer({ redisUrl: redis.url });
          const agent = await RawAgent.connect(a, "n-4");
          await waitAgentStatus(admin, "n-4", "online");
          await queueCommand(admin, { agentId: "n-4", command: "sleep 1" });
          await received(agent, "command:execute");
          queued = await queueCommand(admin, {
            agentId: "n-4",
            command: "echo never",
          });
          await agent.close();
          await waitAgentStatus(admin, "n-4", "offline");
        }
        admin.send("emergency:stop", { reason: "all stop" });
        const cancelled = await waitStatus(admin, queued, "cancelled");
        assert.deepEqual(cancelled.endedBy, {
          actor: "admin",
          role: "admin",
          reason: "all stop",
        });
      } finally {
        await admin.close();
      }
    } finally {
      await redis.close();
    }
  },
);

Deno.test(
  "cluster: a node that starts later learns the agents, queues and running commands of the others; a dashboard there resumes by seq and gets the rest live, no gap, no duplicate",
  opts,
  async () => {
    await withNodes(async (a, _b, track) => {
      const agent = await RawAgent.connect(a, "n-5");
      const local = track(await TestClient.dashboard(a, "operator"));
      const running = await startOnRawAgent(local, agent, "n-5", "cat");
      const queued = await queueCommand(local, {
        agentId: "n-5",
        command: "echo later",
        priority: "high",
      });
      for (let seq = 1; seq <= 3; seq++) {
        agent.send("terminal:output", {
          commandId: running,
          seq,
          stream: "stdout",
          data: `chunk ${seq}\n`,
        });
      }
      await agent.waitFor((m) =>
        m.type === "terminal:ack" && m.payload.seq === 3
      );
      const redisUrl = a.services.config.redisUrl!;
      await using c = await startTestServer({ redisUrl });
      const late = track(await TestClient.dashboard(c, "operator"));
      await waitAgentStatus(late, "n-5", "busy");
      await late.until(
        () =>
          late.of("command:queue").some((q) =>
            q.agentId === "n-5" && q.queue.length === 1 &&
            q.queue[0].commandId === queued
          ),
        { what: "queue of n-5 at the new node" },
      );
      await waitStatus(late, running, "running");
      // It has seen chunk 1 elsewhere: resume after it.
      late.send("terminal:resume", { commandId: running, afterSeq: 1 });
      await late.until(() => outputOf(late, running).seqs.length === 2, {
        what: "replay of 2..3",
      });
      for (let seq = 4; seq <= 6; seq++) {
        agent.send("terminal:output", {
          commandId: running,
          seq,
          stream: "stdout",
          data: `chunk ${seq}\n`,
        });
      }
      await late.until(() => outputOf(late, running).seqs.length === 5, {
        what: "chunks 4..6 live",
      });
      assert.deepEqual(outputOf(late, running), {
        text: "chunk 2\nchunk 3\nchunk 4\nchunk 5\nchunk 6\n",
        seqs: [2, 3, 4, 5, 6],
      });
      await agent.close();
    });
  },
);
