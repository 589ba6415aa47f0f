/**
 * Cluster mode, two servers in this process on one real Redis, a raw agent
 * on node A and dashboards on node B: a dashboard on B that resumes the
 * agent's running command with `snapshot: true` gets A's latest screen,
 * then exactly the stored chunks after it, then live output once; when A
 * keeps no screen, does not answer, answers with one over the size bound,
 * or is gone, B replays the stored output as before.
 */
import assert from "node:assert/strict";
import { MAX_REMOTE_SCREEN_CHARS } from "../lib/server/cluster_node.ts";
import { RedisServer } from "./redis_server.ts";
import {
  queueCommand,
  RawAgent,
  type RawMessage,
  received,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitRaw,
} from "./helpers.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Wait until `client` got chunk `seq` of `commandId` (from index `from`). */
async function chunk(
  client: TestClient,
  commandId: string,
  seq: number,
  from = 0,
): Promise<void> {
  await waitRaw(
    client,
    (m) =>
      m.type === "terminal:output" && m.payload.commandId === commandId &&
      m.payload.seq === seq,
    { from },
  );
}

/**
 * A command of a raw agent on `a` running, watched from `b`: chunks 1..n
 * stored on A and passed on to B's dashboards; `screen` (if set) sent as
 * the agent's snapshot and handled.
 */
async function running(
  a: TestServer,
  b: TestServer,
  agentId: string,
  n: number,
  screen?: number,
) {
  const agent = await RawAgent.connect(a, agentId);
  const watcher = await TestClient.dashboard(b, "operator");
  await waitAgentStatus(watcher, agentId, "online");
  const commandId = await queueCommand(watcher, { agentId, command: "tui" });
  await agent.waitFor((m) => m.type === "command:execute");
  agent.send("command:started", { commandId, startedAt: Date.now() });
  let heartbeats = 0;
  const output = async (seqs: number[]) => {
    for (const seq of seqs) {
      agent.send("terminal:output", {
        commandId,
        seq,
        stream: "pty",
        data: `${seq};`,
      });
    }
    await agent.waitFor((m) =>
      m.type === "terminal:ack" && m.payload.commandId === commandId &&
      m.payload.seq === seqs.at(-1)
    );
  };
  await output(Array.from({ length: n }, (_, i) => i + 1));
  if (screen !== undefined) {
    agent.send("terminal:snapshot", {
      commandId,
      seq: screen,
      cols: 80,
      rows: 24,
      data: `[screen ${screen}]`,
    });
    // Handled in order: the heartbeat's answer comes after the snapshot.
    const sequence = ++heartbeats + 1_000_000;
    agent.send("heartbeat", { sequence });
    await agent.waitFor((m) =>
      m.type === "heartbeat" && m.payload.sequence === sequence
    );
  }
  // B has passed every chunk on: its replay bound is n.
  await chunk(watcher, commandId, n);
  return { agent, watcher, commandId, output };
}

/** A server of the cluster on `redis` that keeps screens of any size. */
function node(redis: RedisServer) {
  return startTestServer({ redisUrl: redis.url, snapshotMinBytes: 0 });
}

Deno.test(
  "cluster: a dashboard on another node gets the owner's screen, then exactly the output after it, then live output once",
  opts,
  async () => {
    const redis = await RedisServer.start();
    const clients: TestClient[] = [];
    try {
      await using a = await node(redis);
      await using b = await node(redis);
      const run = await running(a, b, "cs-1", 40, 30);
      await using _agent = run.agent;
      const { commandId, output } = run;
      clients.push(run.watcher);
      const late = await TestClient.dashboard(b, "viewer");
      clients.push(late);
      const from = late.raw.length;
      late.send("terminal:resume", { commandId, afterSeq: 0, snapshot: true });
      await chunk(late, commandId, 40, from);
      // Live output after the replay: each chunk once.
      await output([41]);
      await output([42]);
      await chunk(late, commandId, 42, from);
      assert.deepEqual(received(late, commandId, from), [
        "screen 30",
        ...Array.from({ length: 12 }, (_, i) => String(i + 31)),
      ]);
      const screen = (late.raw as RawMessage[]).slice(from).find((m) =>
        m.type === "terminal:snapshot"
      )?.payload;
      assert.deepEqual(screen, {
        agentId: "cs-1",
        commandId,
        seq: 30,
        cols: 80,
        rows: 24,
        data: "[screen 30]",
      });
      // Asked from past the screen, or without `snapshot`: plain replays.
      const again = late.raw.length;
      late.send("terminal:resume", { commandId, afterSeq: 35, snapshot: true });
      await chunk(late, commandId, 42, again);
      assert.deepEqual(
        received(late, commandId, again),
        Array.from({ length: 7 }, (_, i) => String(i + 36)),
      );
    } finally {
      for (const client of clients) await client.close();
      await redis.close();
    }
  },
);

Deno.test(
  "cluster: when the owner keeps no screen, does not answer, sends one too large, or is gone, a dashboard on another node gets the whole stored output",
  opts,
  async () => {
    const redis = await RedisServer.start();
    const clients: TestClient[] = [];
    try {
      await using b = await node(redis);
      const a = await node(redis);
      const all = Array.from({ length: 20 }, (_, i) => String(i + 1));
      try {
        // No screen on the owner.
        const run = await running(a, b, "cs-2", 20);
        clients.push(run.watcher);
        const { commandId } = run;
        const late = await TestClient.dashboard(b, "viewer");
        clients.push(late);
        const from = late.raw.length;
        late.send("terminal:resume", {
          commandId,
          afterSeq: 0,
          snapshot: true,
        });
        await chunk(late, commandId, 20, from);
        assert.deepEqual(received(late, commandId, from), all);

        // A screen now: served while A answers.
        const second = await running(a, b, "cs-3", 20, 15);
        clients.push(second.watcher);
        const resume = async () => {
          const start = late.raw.length;
          late.send("terminal:resume", {
            commandId: second.commandId,
            afterSeq: 0,
            snapshot: true,
          });
          await chunk(late, second.commandId, 20, start);
          return received(late, second.commandId, start);
        };
        assert.deepEqual(await resume(), ["screen 15", ...all.slice(15)]);
        // A does not answer (within SCREEN_CALL_TIMEOUT_MS): a replay.
        const cluster = a.services.cluster!;
        cluster.handle("screen", () => new Promise(() => {}));
        assert.deepEqual(await resume(), all);
        // A answers with a screen over MAX_REMOTE_SCREEN_CHARS: a replay.
        cluster.handle("screen", () =>
          Promise.resolve({
            seq: 15,
            cols: 80,
            rows: 24,
            data: "x".repeat(MAX_REMOTE_SCREEN_CHARS + 1),
            outputBytes: 100,
          }));
        assert.deepEqual(await resume(), all);
        // A stops: B replays what is stored.
        await a[Symbol.asyncDispose]();
        assert.deepEqual(await resume(), all);
        await second.agent.close();
        await run.agent.close();
      } finally {
        await a[Symbol.asyncDispose]();
      }
    } finally {
      for (const client of clients) await client.close();
      await redis.close();
    }
  },
);

Deno.test(
  "cluster: output arriving while another node's screen is fetched and the rest replayed is neither lost nor duplicated",
  opts,
  async () => {
    const redis = await RedisServer.start();
    const clients: TestClient[] = [];
    try {
      await using a = await node(redis);
      await using b = await node(redis);
      const run = await running(a, b, "cs-4", 400, 100);
      await using _agent = run.agent;
      const { commandId, output } = run;
      clients.push(run.watcher);
      const late = await TestClient.dashboard(b, "viewer");
      clients.push(late);
      const from = late.raw.length;
      late.send("terminal:resume", { commandId, afterSeq: 0, snapshot: true });
      // Live output at once, while the screen is asked for and read.
      await output(Array.from({ length: 200 }, (_, i) => i + 401));
      await chunk(late, commandId, 600, from);
      // One more chunk after everything: a duplicate would come before it.
      await output([601]);
      await chunk(late, commandId, 601, from);
      const got = received(late, commandId, from);
      // The screen once; before it only live chunks (past the 400 stored
      // when asked: the screen is fetched from node A meanwhile, and the
      // client holds them until it comes), the replayed ones after it.
      const at = got.indexOf("screen 100");
      assert.ok(at >= 0, "the screen came");
      assert.equal(got.filter((g) => g.startsWith("screen")).length, 1);
      assert.deepEqual(
        got.slice(0, at).filter((g) => Number(g) <= 400),
        [],
      );
      // Every chunk after the screen exactly once, none before it.
      const seqs = got.filter((_, i) => i !== at).map(Number);
      assert.deepEqual(
        seqs.sort((x, y) => x - y),
        Array.from({ length: 501 }, (_, i) => i + 101),
      );
    } finally {
      for (const client of clients) await client.close();
      await redis.close();
    }
  },
);
