import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisServer } from "../../tests/redis_server.ts";
import { type BusMessage, ClusterBus, Presence } from "./cluster.ts";
import { FlightdeckError } from "./errors.ts";

/** Resolve once `check()` holds (polled each 10 ms; bounded by the test). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!await check()) await new Promise((r) => setTimeout(r, 10));
}

async function withRedis(
  fn: (connect: () => Redis) => Promise<void>,
): Promise<void> {
  const server = await RedisServer.start();
  const clients: Redis[] = [];
  try {
    await fn(() => {
      const client = new Redis(server.url, { lazyConnect: false });
      clients.push(client);
      return client;
    });
  } finally {
    for (const client of clients) client.disconnect();
    await server.close();
  }
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "ClusterBus.publish() reaches every other node in order, not itself",
  opts,
  async () => {
    await withRedis(async (connect) => {
      const [a, b, c] = await Promise.all(
        ["a", "b", "c"].map((nodeId) =>
          ClusterBus.start(connect(), { nodeId })
        ),
      );
      const got = new Map<string, BusMessage[]>([["a", []], ["b", []], [
        "c",
        [],
      ]]);
      for (const bus of [a, b, c]) {
        bus.onMessage((m) => got.get(bus.nodeId)!.push(m));
      }
      for (let i = 0; i < 200; i++) {
        await a.publish("f", { i }, `frame ${i}\nwith a newline`);
      }
      await until(() =>
        got.get("b")!.length === 200 && got.get("c")!.length === 200
      );
      for (const node of ["b", "c"]) {
        assert.deepEqual(
          got.get(node)!.map((
            m,
          ) => [m.header.k, m.header.n, m.header.i, m.body]),
          [...Array(200).keys()].map((i) => [
            "f",
            "a",
            i,
            `frame ${i}\nwith a newline`,
          ]),
        );
      }
      // A message b sends to a alone is the next thing a gets, and c never does.
      await b.send("a", "only-a");
      await until(() => got.get("a")!.length === 1);
      assert.equal(got.get("a")![0].header.k, "only-a");
      await c.publish("barrier");
      await until(() => got.get("b")!.at(-1)?.header.k === "barrier");
      assert.equal(got.get("c")!.length, 200);
      for (const bus of [a, b, c]) await bus.close();
    });
  },
);

Deno.test(
  "ClusterBus.call() returns the handler's answer, its error code, or AGENT_OFFLINE for a gone node",
  opts,
  async () => {
    await withRedis(async (connect) => {
      const a = await ClusterBus.start(connect(), { nodeId: "a" });
      const b = await ClusterBus.start(connect(), { nodeId: "b" });
      b.handle("add", (args, from) => {
        const { x, y } = args as { x: number; y: number };
        return Promise.resolve({ sum: x + y, from });
      });
      b.handle("refuse", () => {
        throw new FlightdeckError(
          "QUEUE_FULL",
          `Queue of agent "q" is full (3)`,
        );
      });
      assert.deepEqual(await a.call("b", "add", { x: 2, y: 3 }), {
        sum: 5,
        from: "a",
      });
      await assert.rejects(
        a.call("b", "refuse", {}),
        (error: unknown) =>
          error instanceof FlightdeckError && error.code === "QUEUE_FULL" &&
          error.message === `Queue of agent "q" is full (3)`,
      );
      await assert.rejects(
        a.call("b", "nope", {}),
        (error: unknown) =>
          error instanceof FlightdeckError && error.code === "INTERNAL",
      );
      await b.close();
      await assert.rejects(
        a.call("b", "add", { x: 1, y: 1 }),
        (error: unknown) =>
          error instanceof FlightdeckError && error.code === "AGENT_OFFLINE" &&
          error.message === `Server node "b" is gone`,
      );
      await a.close();
    });
  },
);

Deno.test(
  "Presence: the owner's beat renews only what it still owns; a takeover stands; an owner that stops beating expires",
  opts,
  async () => {
    await withRedis(async (connect) => {
      const redis = connect();
      const a = new Presence(redis, { nodeId: "a", ttlMs: 300 });
      const b = new Presence(redis, { nodeId: "b", ttlMs: 300 });
      assert.equal(await a.claim("x"), 1);
      assert.equal(await a.claim("y"), 1);
      assert.deepEqual(await b.owners(["x", "y", "z"]), ["a", "a", null]);
      // b takes y over; a's beat leaves it to b.
      assert.equal(await b.claim("y"), 2);
      assert.deepEqual(await a.beat(["x", "y"]), []);
      assert.deepEqual(await a.owners(["x", "y"]), ["a", "b"]);
      assert.equal(await redis.pttl("fd:owner:y") <= 300, true);
      assert.equal(await a.alive("a"), true);
      assert.equal(await a.alive("c"), false);
      // a releases only its own.
      await a.release("y");
      assert.deepEqual(await a.owners(["y"]), ["b"]);
      // a stops beating: x and a's liveness expire; b's y too once b stops.
      await until(async () =>
        (await b.owners(["x", "y"])).every((o) => o === null)
      );
      assert.equal(await b.alive("a"), false);
      // a beats again (it lost Redis for a while): x, whose socket it still
      // holds, is recorded again, and said so.
      const again = await a.beat(["x"]);
      assert.deepEqual(again.map((r) => r.agentId), ["x"]);
      // With a claim number above its earlier claim's (fencing).
      assert.equal(again[0].epoch, 2);
      assert.deepEqual(await b.owners(["x", "y"]), ["a", null]);
      // One node only takes care of an agent whose node died.
      assert.equal(await a.care("x", 1000), true);
      assert.equal(await b.care("x", 1000), false);
      assert.throws(
        () => new Presence(redis, { nodeId: "a", ttlMs: 10 }),
        RangeError,
      );
    });
  },
);

Deno.test(
  "Presence.care() takes a care record with lostAfterMs 0 (a valid setting), for one node only",
  opts,
  async () => {
    await withRedis(async (connect) => {
      const redis = connect();
      const a = new Presence(redis, { nodeId: "n1", ttlMs: 300 });
      const b = new Presence(redis, { nodeId: "n2", ttlMs: 300 });
      assert.equal(await a.care("agent-1", 0), true);
      assert.equal(await a.care("agent-2"), true);
      assert.equal(await b.care("agent-2"), false);
      // Renewed by its holder's beat; dropped by it when it stops.
      await a.beat([], ["agent-2"]);
      assert.equal(await redis.get("fd:care:agent-2"), "n1");
      await b.releaseCare(["agent-2"]);
      assert.equal(await redis.get("fd:care:agent-2"), "n1");
      await a.releaseCare(["agent-2"]);
      assert.equal(await b.care("agent-2"), true);
    });
  },
);

Deno.test(
  "ClusterBus.call() to a node that does not answer in time fails NODE_UNAVAILABLE, saying it may have been done",
  opts,
  async () => {
    await withRedis(async (connect) => {
      const a = await ClusterBus.start(connect(), {
        nodeId: "a",
        callTimeoutMs: 100,
      });
      const b = await ClusterBus.start(connect(), { nodeId: "b" });
      let called!: () => void;
      const reached = new Promise<void>((resolve) => called = resolve);
      b.handle("slow", () => {
        called();
        return new Promise(() => {});
      });
      try {
        const error = await a.call("b", "slow", {}).then(
          () => null,
          (e) => e,
        );
        await reached;
        assert.ok(error instanceof FlightdeckError);
        assert.equal(error.code, "NODE_UNAVAILABLE");
        assert.match(error.message, /within 0\.1 s; it may still have done it/);
      } finally {
        await a.close();
        await b.close();
      }
    });
  },
);
