/**
 * Redis trouble during a run, with ONE real server process
 * (`FLIGHTDECK_REDIS_URL`) on a real redis-server with its append-only
 * file on: an agent streams 20 MiB (and exits 7) while a dashboard
 * watches, two more commands wait in its queue, and Redis goes away mid
 * stream: stopped (SIGTERM), killed (SIGKILL), cut off by the network (a
 * TCP proxy between server and Redis closes every connection and refuses
 * new ones), or silent (the proxy forwards nothing and closes nothing). While it is away `/api/ready` answers 503, and
 * `command:request`, `command:interrupt` and `terminal:earlier` are
 * answered with `STORAGE_UNAVAILABLE` instead of hanging; the server stays
 * up. When Redis is back, readiness returns, the agent's resend is
 * accepted, and every byte is stored exactly once with contiguous seqs
 * (read back through `terminal:resume`, the recording download and Redis
 * itself); the queued commands run once each with their true exit codes.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import { TcpProxy } from "./tcp_proxy.ts";
import {
  assertCompleteOutput,
  createDashboard,
  type RealDashboard,
  sha256,
} from "./dashboard.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";
import { TestClient } from "../helpers.ts";
import { LIMITS, OUTPUT_WINDOW } from "../../lib/protocol.ts";
import { RedisServer } from "../redis_server.ts";
import {
  connectRedis,
  REDIS_COMMAND_TIMEOUT_MS,
  RedisStorage,
} from "../../lib/server/redis_storage.ts";

/** 160 blocks of 1024 lines of 128 bytes: 20 MiB. */
const BLOCKS = 160;
const BLOCK_LINES = 1024;
const WIDTH = 127;
/** Blocks printed before the stream waits for the outage (2 MiB). */
const BEFORE_OUTAGE = 16;
/**
 * The stream: its first {@link BEFORE_OUTAGE} blocks, then (once `gate`
 * exists: the test makes it when the outage has begun, so the rest is
 * printed during the outage however the machine's load paces the test) the
 * rest.
 */
const streamCommand = (gate: string) =>
  `for b in $(seq 0 ${BLOCKS - 1}); do ` +
  `if [ $b -eq ${BEFORE_OUTAGE} ]; then ` +
  `while [ ! -e '${gate}' ]; do sleep 0.02; done; fi; ` +
  `seq -f '%0${WIDTH}g' $((b*${BLOCK_LINES}+1)) $((b*${BLOCK_LINES}+${BLOCK_LINES})); ` +
  `sleep 0.02; done; exit 7`;

function expectedStream(): string {
  const lines: string[] = new Array(BLOCKS * BLOCK_LINES);
  for (let i = 0; i < lines.length; i++) {
    lines[i] = `${String(i + 1).padStart(WIDTH, "0")}\n`;
  }
  return lines.join("");
}

type Outage = "sigterm" | "sigkill" | "cut" | "blackhole";

/** The HTTP status of the last /api/metrics read (for failure messages). */
let lastMetricsStatus = 0;

/** The server's /api/metrics values by metric name (without labels). */
async function metrics(
  url: string,
  token: string,
): Promise<Record<string, number>> {
  const response = await fetch(`${url}/api/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  lastMetricsStatus = response.status;
  const values: Record<string, number> = {};
  for (const line of (await response.text()).split("\n")) {
    const match = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
    if (match) values[match[1]] = Number(match[2]);
  }
  return values;
}

/**
 * Log lines of `stderr` without the server's periodic complaints while
 * Redis is away, so what went wrong is left to read.
 */
function withoutRetries(stderr: string): string {
  return stderr.split("\n").filter((line) =>
    !/Cluster heartbeat failed|Cluster bus error|Cannot check revocations|Search indexing failed/
      .test(line)
  ).join("\n");
}

async function ready(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}/api/ready`);
  return { status: response.status, body: await response.text() };
}

/** Send `type` through the dashboard's client; wait for the error answer. */
async function refused(
  d: RealDashboard,
  type: "command:request" | "command:interrupt" | "terminal:earlier",
  payload: Record<string, unknown>,
): Promise<{ code: string; message: string; ms: number }> {
  const start = performance.now();
  // deno-lint-ignore no-explicit-any
  const id = d.client.send(type, payload as any);
  const error = await waitUntil(
    () => d.errors.find((e) => e.replyTo === id),
    15_000,
    `error answer to ${type}`,
    () => JSON.stringify(d.errors),
  );
  return { ...error, ms: performance.now() - start };
}

async function outageRun(outage: Outage): Promise<void> {
  const redis = await RedisServer.start({ appendOnly: true });
  const proxy = outage === "cut" || outage === "blackhole"
    ? new TcpProxy(redis.port)
    : null;
  const redisUrl = proxy ? `redis://127.0.0.1:${proxy.port}` : redis.url;
  let server: ServerProcess | null = null;
  let d: RealDashboard | null = null;
  let replay: TestClient | null = null;
  let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
  try {
    server = await ServerProcess.start({
      env: { FLIGHTDECK_REDIS_URL: redisUrl },
    });
    const operator = await server.token("operator");
    agent = await startAgent(server, "redis-out");
    d = await createDashboard({
      wsUrl: server.wsUrl,
      token: operator,
      name: "d",
    });
    await waitUntil(
      () => d!.agentStatus("redis-out") === "online",
      15_000,
      "agent online",
    );
    assert.equal((await ready(server.url)).status, 200);
    const gate = `${await Deno.makeTempDir()}/outage-begun`;
    const stream = await d.request("redis-out", streamCommand(gate));
    const queued = await d.request("redis-out", "echo queued; exit 5");
    const victim = await d.request("redis-out", "echo victim");
    await waitUntil(
      () =>
        d!.stores.output.receivedBytes(stream) >=
          BEFORE_OUTAGE * BLOCK_LINES * (WIDTH + 1),
      30_000,
      "2 MiB streamed before the outage",
    );

    // The outage.
    const down = performance.now();
    if (outage === "sigterm") await redis.stop();
    else if (outage === "sigkill") await redis.kill();
    else if (outage === "cut") {
      proxy!.block(3_600_000);
      proxy!.cut();
    } else proxy!.blackhole();
    const unready = await waitUntil(
      async () => {
        const answer = await ready(server!.url);
        return answer.status === 503 ? answer : null;
      },
      10_000,
      "/api/ready 503",
    );
    figure(
      `redis_${outage}_ready_503_ms`,
      Math.round(performance.now() - down),
    );
    assert.deepEqual(JSON.parse(unready.body), { status: "unavailable" });
    // The rest of the stream is printed now, during the outage.
    await Deno.writeTextFile(gate, "");

    // Actions that need Redis get a clear error, and change nothing.
    const request = await refused(d, "command:request", {
      agentId: "redis-out",
      command: "echo during the outage",
      priority: "normal",
    });
    const interrupt = await refused(d, "command:interrupt", {
      commandId: victim,
    });
    const earlier = await refused(d, "terminal:earlier", {
      commandId: stream,
      beforeSeq: 2,
    });
    // The JSON API: a clear 503 too.
    const api = await fetch(
      `${server.url}/api/commands/${queued}/recording?format=raw`,
      { headers: { authorization: `Bearer ${operator}` } },
    );
    assert.equal(api.status, 503);
    assert.equal((await api.json()).error.code, "STORAGE_UNAVAILABLE");
    for (const answer of [request, interrupt, earlier]) {
      assert.equal(answer.code, "STORAGE_UNAVAILABLE", answer.message);
      // A silent connection is dropped by the server's PING check, not
      // left to each command's own timeout.
      assert.ok(
        answer.ms < REDIS_COMMAND_TIMEOUT_MS,
        `answered after ${answer.ms} ms`,
      );
    }
    figure(
      `redis_${outage}_error_ms`,
      Math.round(Math.max(request.ms, interrupt.ms, earlier.ms)),
    );
    // Output waits at the server (unacknowledged, within the agent's
    // window) and at the agent, which stays connected: 3 s of that.
    let rss = 0;
    let unstored = 0;
    await waitUntil(
      async () => {
        rss = Math.max(rss, server!.rssBytes());
        const m = await metrics(server!.url, operator);
        unstored = Math.max(unstored, m.flightdeck_output_unstored_bytes);
        return m.flightdeck_output_storage_wait_seconds >= 3;
      },
      30_000,
      "output waiting 3 s for Redis",
      () =>
        `last /api/metrics: HTTP ${lastMetricsStatus}, unstored ${unstored}\n` +
        `server:\n${withoutRetries(server!.stderr).slice(-3000)}\n` +
        `agent:\n${agent!.stderr.slice(-2000)}`,
    );
    // The agent sends while less than its window is unacknowledged, so at
    // most the window plus one chunk waits at the server.
    assert.ok(
      unstored > 0 &&
        unstored <= OUTPUT_WINDOW.defaultBytes + LIMITS.maxChunkBytes,
      `output held at the server within the agent's window: ${unstored}`,
    );
    assert.ok(
      d.stores.output.receivedBytes(stream) < BLOCKS * BLOCK_LINES * 128,
      "part of the output waits at the agent",
    );
    assert.equal(d.command(stream)?.status, "running");
    assert.ok(
      !agent.stderr.includes("Storing output failed"),
      "the agent was not sent away",
    );
    figure(`redis_${outage}_server_rss_max_mib`, Math.round(rss / 2 ** 20));
    figure(`redis_${outage}_unstored_max_bytes`, unstored);
    assert.ok(server.running, "the server is up");
    assert.equal(d.command(victim)?.status, "queued");

    // Redis comes back.
    const back = performance.now();
    if (outage === "cut") proxy!.block(0);
    else if (outage === "blackhole") proxy!.restore();
    else await redis.restart();
    await waitUntil(
      async () => (await ready(server!.url)).status === 200,
      30_000,
      "/api/ready 200 again",
    );
    figure(
      `redis_${outage}_ready_again_ms`,
      Math.round(performance.now() - back),
    );

    const expected = expectedStream();
    await d.waitComplete(stream, 120_000);
    // Nothing was sent twice: the agent stayed connected.
    assertCompleteOutput(d, stream, expected, {
      status: "failed",
      exitCode: 7,
    });
    await d.waitComplete(queued, 60_000);
    await d.waitComplete(victim, 60_000);
    assertCompleteOutput(d, queued, "queued\n", {
      status: "failed",
      exitCode: 5,
    });
    assertCompleteOutput(d, victim, "victim\n", {
      status: "completed",
      exitCode: 0,
    });
    // Each ran once; the refused request made no command.
    for (const id of [stream, queued, victim]) {
      assert.deepEqual(
        d.statusHistory.get(id)?.filter((s) => s === "running"),
        ["running"],
        id,
      );
    }
    assert.equal(d.stores.commands.value.size, 3);

    // Stored once each, contiguous: the replay path.
    const lastSeq = d.stores.output.lastSeq(stream)!;
    replay = new TestClient(`${server.wsUrl}/ws/dashboard`, {
      authorization: `Bearer ${operator}`,
    });
    await replay.waitFor((m) => m.type === "agent:list");
    replay.send("terminal:resume", { commandId: stream, afterSeq: 0 });
    await replay.waitFor(
      (m) => m.type === "terminal:output" && m.payload.seq === lastSeq,
      { timeoutMs: 60_000 },
    );
    const chunks = replay.of("terminal:output");
    assert.deepEqual(
      chunks.map((c) => c.seq),
      Array.from({ length: lastSeq }, (_, i) => i + 1),
      "each seq replayed once, in order",
    );
    assert.deepEqual(replay.of("terminal:gap"), [], "nothing lost");
    const want = await sha256(expected);
    assert.equal(await sha256(chunks.map((c) => c.data).join("")), want);
    // The recording download.
    const download = await fetch(
      `${server.url}/api/commands/${stream}/recording?format=raw`,
      { headers: { authorization: `Bearer ${operator}` } },
    );
    assert.equal(download.status, 200);
    assert.equal(await sha256(await download.text()), want);
    // Redis itself: one stream entry per part, seqs 1..lastSeq.
    const client = connectRedis(redis.url);
    const kv = await Deno.openKv(":memory:");
    try {
      await client.ping();
      const store = new RedisStorage(client, kv);
      const seqs: number[] = [];
      let text = "";
      for await (const chunk of store.output.read(stream, 0)) {
        seqs.push(chunk.seq);
        text += chunk.data;
      }
      assert.deepEqual(
        seqs,
        Array.from({ length: lastSeq }, (_, i) => i + 1),
      );
      assert.equal(await sha256(text), want);
      assert.equal((await store.getCommand(stream))?.info.exitCode, 7);
      assert.deepEqual([...await store.loadQueues()], []);
    } finally {
      client.disconnect();
      kv.close();
    }
  } finally {
    d?.stop();
    await replay?.close();
    if (agent) await killAgent(agent);
    await server?.dispose();
    await proxy?.close();
    await redis.close();
  }
}

for (
  const [outage, what] of [
    ["sigterm", "stopped (SIGTERM)"],
    ["sigkill", "killed (SIGKILL)"],
    ["cut", "cut off by the network (TCP proxy)"],
    ["blackhole", "silent (the network forwards nothing, no close)"],
  ] as const
) {
  Deno.test({
    name:
      `faults: Redis ${what} mid-stream and back (AOF): readiness drops and returns, STORAGE_UNAVAILABLE meanwhile, nothing lost, queued commands run once`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => outageRun(outage),
  });
}
