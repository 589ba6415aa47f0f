/**
 * Cluster mode: ownership and lost timers when nodes stop, Redis records
 * expire, claims arrive late, or storage fails while a node announces.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./faults/server_process.ts";
import { TcpProxy } from "./faults/tcp_proxy.ts";
import {
  queueCommand,
  RawAgent,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitStatus,
} from "./helpers.ts";
import {
  completeOnRawAgent,
  executedId,
  startOnRawAgent,
  withRedis,
} from "./redis_helpers.ts";
import { withRawAgent } from "./cluster_harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "cluster: a running command whose agent left and whose node then stops ends lost on a node that was already running",
  opts,
  async () => {
    await withRedis(async ({ redis }) => {
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
          running = await startOnRawAgent(dash, agent, "r-1", "sleep 600");
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
    });
  },
);

Deno.test(
  "cluster: a storage error while answering another node's hello does not crash the node (no unhandled rejection)",
  opts,
  async () => {
    await withRedis(async ({ redis, client }) => {
      // Node a: a real server process holding the agent.
      await using a = await ServerProcess.start({
        env: { FLIGHTDECK_REDIS_URL: redis.url },
      });
      const server = a as unknown as TestServer;
      await withRawAgent(server, "r-2", server, async (agent, dash) => {
        await startOnRawAgent(dash, agent, "r-2", "sleep 600");
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
            waitAgentStatus(other, "r-2", "busy").then(() => null),
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
      });
    });
  },
);

Deno.test(
  "cluster: an owner record that expired while its node is alive (Redis away longer than the TTL) does not make another node end the agent's running command lost",
  opts,
  async () => {
    await withRedis(async ({ redis, client }) => {
      // Node a holds the agent and renews its record rarely; node b checks
      // often and would end a lost command fast.
      await using a = await startTestServer({
        redisUrl: redis.url,
        presenceTtlMs: 3000,
        lostAfterMs: 600_000,
      });
      await using b = await startTestServer({
        redisUrl: redis.url,
        presenceTtlMs: 300,
        lostAfterMs: 100,
      });
      await withRawAgent(a, "r-3", a, async (agent, dash) => {
        const running = await startOnRawAgent(dash, agent, "r-3", "sleep 1");
        await waitStatus(dash, running, "running");
        // Told when node a records it again (keyspace events of SETs).
        await client.config("SET", "notify-keyspace-events", "K$");
        const listener = client.duplicate();
        await listener.subscribe("__keyspace@0__:fd:owner:r-3");
        const recorded = new Promise<void>((resolve) =>
          listener.on("message", (_channel: string, event: string) => {
            if (event === "set") resolve();
          })
        );
        // What Redis does to the record when it is down (or the node cannot
        // reach it) for longer than the TTL: it expires. Node a is alive and
        // holds the agent's socket all along; node b beats about 10 times
        // before node a records it again at its next beat.
        await client.del("fd:owner:r-3");
        await recorded;
        listener.disconnect();
        assert.equal(
          await client.get("fd:owner:r-3"),
          a.services.cluster!.nodeId,
        );
        // The agent, connected to node a all along, finishes its command.
        completeOnRawAgent(agent, running);
        const final = await dash.waitFor(
          (m) =>
            m.type === "command:status" && m.payload.command.id === running &&
            ["completed", "lost", "failed", "interrupted"].includes(
              m.payload.command.status,
            ),
          { timeoutMs: 30_000 },
        );
        assert.equal(
          final.type === "command:status" && final.payload.command.status,
          "completed",
        );
        assert.ok(b);
      });
    });
  },
);

Deno.test(
  "cluster: a claim of an agent by a node that does not hold its owner record (a late claim) does not drop the agent's live socket",
  opts,
  async () => {
    await withRedis(async ({ redis, client }) => {
      await using a = await startTestServer({ redisUrl: redis.url });
      await withRawAgent(a, "r-4", a, async (agent, dash) => {
        assert.equal(
          await client.get("fd:owner:r-4"),
          a.services.cluster!.nodeId,
        );
        // Claims that arrive late: another node claimed the agent before
        // node a did (its message was delayed behind a busy inbox), with a
        // claim number not above node a's, or with none. Node a holds the
        // owner record now.
        const epoch = Number(await client.get("fd:epoch:r-4"));
        for (const e of [epoch, epoch - 1, undefined]) {
          await client.publish(
            "fd:bus",
            `${JSON.stringify({ k: "claim", n: "other-node", a: "r-4", e })}\n`,
          );
        }
        // The agent is still connected to node a and still gets commands.
        const id = await queueCommand(dash, {
          agentId: "r-4",
          command: "echo still-here",
        });
        assert.equal(await executedId(agent), id);
        assert.equal(agent.client.closed, null);
      });
    });
  },
);

Deno.test(
  "cluster: a node that took care of an agent whose records expired (its node seemed dead) lets it go when that node records it again",
  opts,
  async () => {
    await withRedis(async ({ redis, client }) => {
      // Node a holds the agent; node b checks often and would end a lost
      // command after 10 min (its lost timer must be gone at the end).
      await using a = await startTestServer({
        redisUrl: redis.url,
        presenceTtlMs: 3000,
        lostAfterMs: 600_000,
      });
      await using b = await startTestServer({
        redisUrl: redis.url,
        presenceTtlMs: 300,
        lostAfterMs: 600_000,
      });
      await withRawAgent(a, "r-5", b, async (agent, dash) => {
        const running = await startOnRawAgent(dash, agent, "r-5", "sleep 1");
        await waitStatus(dash, running, "running");
        // Node a could not reach Redis for longer than the TTL (a network
        // split): its records expired. Node b takes it for dead.
        await client.del(
          "fd:owner:r-5",
          `fd:node:${a.services.cluster!.nodeId}`,
        );
        const offline = await dash.waitFor((m) =>
          m.type === "agent:status" && m.payload.agent.id === "r-5" &&
          m.payload.agent.status === "offline"
        );
        // Node a records it again at its next beat, and claims it: node b
        // drops what it loaded of it, lost timer included.
        await dash.waitFor(
          (m) =>
            m.type === "agent:status" && m.payload.agent.id === "r-5" &&
            m.payload.agent.status === "busy",
          {
            from: dash.messages.indexOf(offline) + 1,
          },
        );
        assert.equal(b.services.commands.losing("r-5"), false);
        assert.equal(b.services.commands.holds("r-5"), false);
        assert.equal(
          await client.get("fd:owner:r-5"),
          a.services.cluster!.nodeId,
        );
        // The agent, connected to node a all along, finishes its command.
        completeOnRawAgent(agent, running);
        assert.equal(
          (await waitStatus(dash, running, "completed")).status,
          "completed",
        );
      });
    });
  },
);

Deno.test(
  "cluster: a request sent to the node that held an agent before is queued on the agent's new node",
  opts,
  async () => {
    await withRedis(async ({ redis }) => {
      await using a = await startTestServer({ redisUrl: redis.url });
      await using b = await startTestServer({ redisUrl: redis.url });
      await using c = await startTestServer({ redisUrl: redis.url });
      await withRawAgent(a, "r-6", b, async (first, _dash) => {
        // The agent connects again, to node c; node a lets it go.
        const agent = await RawAgent.connect(c, "r-6");
        assert.equal((await first.client.waitClosed()).code, 4409);
        try {
          // Node b still sends to node a (its view lags behind): node a
          // names the new owner and node b asks it.
          const { command, remote } = await b.services.cluster!.request(
            a.services.cluster!.nodeId,
            { id: "operator" },
            { agentId: "r-6", command: "echo moved", priority: "normal" },
          );
          assert.equal(remote, true);
          assert.equal(await executedId(agent), command.id);
          assert.equal(a.services.commands.holds("r-6"), false);
        } finally {
          await agent.close();
        }
      });
    });
  },
);

Deno.test(
  "cluster: a command the previous node queued for an agent while the new node took it over is run by the new node",
  opts,
  async () => {
    await withRedis(async ({ redis, client }) => {
      await using a = await startTestServer({ redisUrl: redis.url });
      await using c = await startTestServer({ redisUrl: redis.url });
      const agent = await RawAgent.connect(c, "r-7");
      try {
        // Stored by node a after node c loaded the agent's queue (a request
        // node a took just before it saw node c's claim) ...
        const id = crypto.randomUUID();
        await a.services.storage.insertQueued({
          info: {
            id,
            agentId: "r-7",
            command: "echo late",
            priority: "normal",
            status: "queued",
            requestedBy: "operator",
            requestedAt: Date.now(),
            startedAt: null,
            completedAt: null,
            exitCode: null,
            outputBytes: 0,
          },
          order: Date.now(),
          dispatched: false,
          interruptReason: null,
          timeoutMs: null,
        });
        // ... then node a says it let the agent go.
        await client.publish(
          `fd:bus:${c.services.cluster!.nodeId}`,
          `${
            JSON.stringify({
              k: "released",
              n: a.services.cluster!.nodeId,
              a: "r-7",
            })
          }\n`,
        );
        assert.equal(await executedId(agent), id);
      } finally {
        await agent.close();
      }
    });
  },
);

Deno.test(
  "cluster: a node that lost the bus for a while learns, once back, the end of a command of another node's agent it missed",
  opts,
  async () => {
    await withRedis(async ({ redis }) => {
      // Node b reaches Redis through this proxy; node a directly.
      await using proxy = new TcpProxy(Number(new URL(redis.url).port));
      await using a = await startTestServer({ redisUrl: redis.url });
      await using b = await startTestServer({
        redisUrl: `redis://127.0.0.1:${proxy.port}`,
      });
      const agent = await RawAgent.connect(a, "r-8");
      const dashA = await TestClient.dashboard(a, "operator");
      const dashB = await TestClient.dashboard(b, "operator");
      try {
        await waitAgentStatus(dashB, "r-8", "online");
        const running = await startOnRawAgent(dashB, agent, "r-8", "sleep 1");
        await waitStatus(dashB, running, "running");
        // Node b loses Redis; the command ends meanwhile (node b misses
        // its final state on the bus).
        proxy.block(600_000);
        proxy.cut();
        completeOnRawAgent(agent, running);
        await waitStatus(dashA, running, "completed");
        proxy.block(0);
        const done = await waitStatus(dashB, running, "completed", 30_000);
        assert.equal(done.exitCode, 0);
      } finally {
        await dashA.close();
        await dashB.close();
        await agent.close();
      }
    });
  },
);

Deno.test(
  "cluster: late output of a command that ended on another node is neither forwarded nor tracked again",
  opts,
  async () => {
    await withRedis(async ({ redis, client }) => {
      await using b = await startTestServer({ redisUrl: redis.url });
      const dash = await TestClient.dashboard(b, "operator");
      try {
        const command = {
          id: crypto.randomUUID(),
          agentId: "r-9",
          command: "echo x",
          priority: "normal" as const,
          status: "running" as const,
          requestedBy: "operator",
          requestedAt: Date.now(),
          startedAt: Date.now(),
          completedAt: null,
          exitCode: null,
          outputBytes: 0,
        };
        const publish = (header: Record<string, unknown>, frame: unknown) =>
          client.publish(
            "fd:bus",
            `${JSON.stringify({ k: "f", n: "other-node", ...header })}\n${
              JSON.stringify(frame)
            }`,
          );
        const status = (info: typeof command | Record<string, unknown>) =>
          publish({ t: "command:status" }, {
            version: "1.0.0",
            type: "command:status",
            timestamp: Date.now(),
            payload: { command: info },
          });
        const output = (seq: number) =>
          publish({
            t: "terminal:output",
            a: "r-9",
            c: command.id,
            f: seq,
            s: seq,
          }, {
            version: "1.0.0",
            type: "terminal:output",
            timestamp: Date.now(),
            payload: {
              agentId: "r-9",
              commandId: command.id,
              seq,
              stream: "stdout",
              data: `line ${seq}\n`,
            },
          });
        await status(command);
        await output(1);
        await status({
          ...command,
          status: "completed",
          exitCode: 0,
          completedAt: Date.now(),
        });
        // A late frame (of a node that held the agent before), then a
        // marker frame to know the late one was handled.
        await output(2);
        await status({ ...command, id: "marker" });
        await dash.waitFor((m) =>
          m.type === "command:status" && m.payload.command.id === "marker"
        );
        const cluster = b.services.cluster!;
        assert.equal(cluster.forwardedSeq(command.id), undefined);
        assert.deepEqual(
          dash.messages.filter((m) => m.type === "terminal:output").map((m) =>
            m.type === "terminal:output" && m.payload.seq
          ),
          [1],
        );
      } finally {
        await dash.close();
      }
    });
  },
);

Deno.test(
  "cluster: control of a terminal held by a dashboard of a node that died ends",
  opts,
  async () => {
    await withRedis(async ({ redis }) => {
      await using a = await startTestServer({
        redisUrl: redis.url,
        presenceTtlMs: 300,
      });
      await using b = await ServerProcess.start({
        env: {
          FLIGHTDECK_REDIS_URL: redis.url,
          FLIGHTDECK_PRESENCE_TTL_MS: "300",
        },
      });
      const agent = await RawAgent.connect(a, "r-10");
      const local = await TestClient.dashboard(a, "operator");
      const remote = await TestClient.dashboard(
        b as unknown as TestServer,
        "operator",
      );
      try {
        await waitAgentStatus(remote, "r-10", "online");
        const running = await startOnRawAgent(remote, agent, "r-10", "cat");
        await waitStatus(local, running, "running");
        await takeControl(remote, "r-10");
        const taken = await local.waitFor((m) =>
          m.type === "session:controller" && m.payload.holder !== null
        );
        // Node b dies: it cannot say its dashboard's connection closed.
        await b.kill("SIGKILL");
        await local.waitFor(
          (m) => m.type === "session:controller" && m.payload.holder === null,
          { from: local.messages.indexOf(taken) + 1 },
        );
        assert.deepEqual(a.services.control.held(), []);
      } finally {
        await local.close();
        await remote.close();
        await agent.close();
      }
    });
  },
);
