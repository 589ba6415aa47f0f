/**
 * 100,000 commands: the dashboard page, a dashboard connect and a server
 * start-up read only what they show, not the whole history.
 *
 * The history is seeded through the real Storage into a real (file) Deno KV,
 * in batches. KV reads are counted by wrapping the KV's own `get`,
 * `getMany` and `list`; timings are printed as FIGURE lines and not asserted.
 */
import assert from "node:assert/strict";
import manifest from "../fresh.gen.ts";
import { startServer } from "../lib/server/app.ts";
import { silentLogger } from "../lib/server/logger.ts";
import { Storage, type StoredCommand } from "../lib/server/storage.ts";
import type { AgentInfo } from "../lib/protocol.ts";
import { Auth } from "../lib/server/auth.ts";
import { enforceRetention } from "../lib/server/retention.ts";
import { SNAPSHOT_COMMANDS_PER_AGENT } from "../lib/server/dashboard_session.ts";
import { TestClient } from "./helpers.ts";

const COMMANDS = 100_000;
const AGENTS = 20;
const BATCH = 1000;
const SECRET = "scale-test-secret-scale-test-secret-0123456789";

/** Counts KV entries read through `kv` from now on. */
function countReads(kv: Deno.Kv): { read: number; calls: number } {
  const counter = { read: 0, calls: 0 };
  const get = kv.get.bind(kv);
  const getMany = kv.getMany.bind(kv);
  const list = kv.list.bind(kv);
  Object.assign(kv, {
    get: (
      key: Deno.KvKey,
      options?: { consistency?: Deno.KvConsistencyLevel },
    ) => {
      counter.calls++;
      counter.read++;
      return get(key, options);
    },
    getMany: (
      keys: Deno.KvKey[],
      options?: { consistency?: Deno.KvConsistencyLevel },
    ) => {
      counter.calls++;
      counter.read += keys.length;
      return getMany(keys, options);
    },
    list: (selector: Deno.KvListSelector, options?: Deno.KvListOptions) => {
      counter.calls++;
      const iter = list(selector, options);
      return {
        get cursor() {
          return iter.cursor;
        },
        next: async () => {
          const result = await iter.next();
          if (!result.done) counter.read++;
          return result;
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
  });
  return counter;
}

function agentInfo(i: number): AgentInfo {
  return {
    id: `scale-${i}`,
    name: `scale-${i}`,
    type: "shell",
    status: "offline",
    capabilities: ["shell"],
    hostname: "seed",
    connectedAt: 1,
    lastSeenAt: 1,
    currentCommandId: null,
  };
}

/** Seed `COMMANDS` finished commands over `AGENTS` agents, the newest last. */
async function seed(kv: Deno.Kv): Promise<void> {
  const storage = new Storage(kv);
  await storage.migrate(); // As the first start of a server would.
  for (let a = 0; a < AGENTS; a++) await storage.saveAgent(agentInfo(a));
  const base = Date.now() - 3_600_000; // Within retention.
  for (let start = 0; start < COMMANDS; start += BATCH) {
    const batch: StoredCommand[] = [];
    for (let i = start; i < Math.min(start + BATCH, COMMANDS); i++) {
      const at = base + Math.floor(i / 100);
      batch.push({
        info: {
          id: `cmd-${String(i).padStart(6, "0")}`,
          agentId: `scale-${i % AGENTS}`,
          command: `echo ${i}`,
          priority: "normal",
          status: "completed",
          requestedBy: "seed",
          requestedAt: at,
          startedAt: at,
          completedAt: at,
          exitCode: 0,
          outputBytes: 0,
        },
        order: at * 1000 + (i % 1000),
        dispatched: false,
        interruptReason: null,
        timeoutMs: null,
        lastSeq: 0,
      });
    }
    await storage.importFinished(batch);
  }
}

function figure(name: string, ms: number, reads: number): void {
  // deno-lint-ignore no-console
  console.log(
    `FIGURE ${name} at ${COMMANDS} commands: ${ms.toFixed(1)} ms, ` +
      `${reads} KV entries read`,
  );
}

Deno.test("history at 100,000 commands: GET /, a dashboard connect and a start-up read a bounded set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-scale-" });
  const path = `${dir}/flightdeck.kv`;
  try {
    const seedKv = await Deno.openKv(path);
    const seedStart = performance.now();
    await seed(seedKv);
    seedKv.close();
    // deno-lint-ignore no-console
    console.log(
      `seeded ${COMMANDS} commands in ${
        ((performance.now() - seedStart) / 1000).toFixed(1)
      } s`,
    );

    const kv = await Deno.openKv(path);
    const reads = countReads(kv);
    let t = performance.now();
    const server = await startServer(manifest, {
      ignoreEnv: true,
      kv,
      log: silentLogger,
      config: {
        port: 0,
        dataDir: dir,
        secret: SECRET,
        printLoginUrl: false,
      },
    });
    try {
      const startMs = performance.now() - t;
      const startReads = reads.read;
      figure("server start-up", startMs, startReads);

      const token = await new Auth(SECRET).sign({ role: "admin" });
      reads.read = 0;
      t = performance.now();
      const page = await fetch(`${server.url}/`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const html = await page.text();
      const pageMs = performance.now() - t;
      const pageReads = reads.read;
      assert.equal(page.status, 200);
      assert.match(html, /cmd-099999/, "the newest command is on the page");
      figure("GET /", pageMs, pageReads);

      reads.read = 0;
      t = performance.now();
      const dash = new TestClient(
        `${server.url.replace(/^http/, "ws")}/ws/dashboard`,
        { authorization: `Bearer ${token}` },
      );
      try {
        await dash.opened();
        // Answered after the snapshot: the session handles messages in order.
        dash.send("heartbeat", { sequence: 7 });
        await dash.waitFor(
          (m) => m.type === "heartbeat" && m.payload.sequence === 7,
          {
            timeoutMs: 120_000,
          },
        );
        const connectMs = performance.now() - t;
        const connectReads = reads.read;
        figure("dashboard connect to snapshot", connectMs, connectReads);

        const snapshot = dash.of("command:status").map((s) => s.command);
        const perAgent = new Map<string, string[]>();
        for (const c of snapshot) {
          perAgent.set(c.agentId, [...(perAgent.get(c.agentId) ?? []), c.id]);
        }
        // Exactly each agent's newest SNAPSHOT_COMMANDS_PER_AGENT, oldest first.
        assert.equal(perAgent.size, AGENTS);
        for (let a = 0; a < AGENTS; a++) {
          const expected: string[] = [];
          for (
            let i = COMMANDS - AGENTS + a;
            expected.length < SNAPSHOT_COMMANDS_PER_AGENT;
            i -= AGENTS
          ) expected.unshift(`cmd-${String(i).padStart(6, "0")}`);
          assert.deepEqual(perAgent.get(`scale-${a}`), expected);
        }

        // Once more, warm (the first of each includes compiling the code).
        reads.read = 0;
        t = performance.now();
        await (await fetch(`${server.url}/`, {
          headers: { authorization: `Bearer ${token}` },
        })).text();
        figure("GET / (warm)", performance.now() - t, reads.read);
        reads.read = 0;
        t = performance.now();
        const again = new TestClient(
          `${server.url.replace(/^http/, "ws")}/ws/dashboard`,
          { authorization: `Bearer ${token}` },
        );
        try {
          await again.opened();
          again.send("heartbeat", { sequence: 8 });
          await again.waitFor((m) => m.type === "heartbeat", {
            timeoutMs: 120_000,
          });
          figure("dashboard connect (warm)", performance.now() - t, reads.read);
        } finally {
          await again.close();
        }

        // A retention pass with nothing to delete reads its indexes' heads.
        reads.read = 0;
        t = performance.now();
        const retained = await enforceRetention(server.services.storage, {
          maxAgeMs: server.services.config.retentionMs,
          maxBytes: server.services.config.retentionBytes,
        });
        const retentionReads = reads.read;
        figure("retention pass", performance.now() - t, retentionReads);
        assert.equal(retained.deletedCommands + retained.trimmedCommands, 0);
        assert.ok(
          retentionReads < 10,
          `a retention pass read ${retentionReads} KV entries`,
        );

        // Bounded reads: what is shown (plus indexes of it), never the history.
        const shown = AGENTS * SNAPSHOT_COMMANDS_PER_AGENT;
        assert.ok(
          startReads < 1_000,
          `start-up read ${startReads} KV entries`,
        );
        assert.ok(pageReads < 1_000, `GET / read ${pageReads} KV entries`);
        assert.ok(
          connectReads <= 2 * shown + 100,
          `a dashboard connect read ${connectReads} KV entries`,
        );
      } finally {
        await dash.close();
      }
    } finally {
      await server.shutdown();
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
