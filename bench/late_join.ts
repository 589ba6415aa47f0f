// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * Late joiner benchmark: a real server (in-memory KV) and a real session
 * agent whose program prints `mib` MiB of history through its PTY and then
 * runs an interactive shell. Once all of it is stored and the agent's snapshot
 * covers it, a new dashboard connects and opens the session; measured is
 * the time from opening the dashboard's socket until the current screen is
 * rendered: the snapshot plus the chunks after it written into an
 * `@xterm/headless` terminal (the browser's xterm parses the same data).
 * The old path, a full replay from seq 0 into the same kind of terminal,
 * is measured for comparison.
 *
 * `deno run -A bench/late_join.ts [MiB] [--cluster]` (default 100), or from
 * `deno task bench` (`BENCH_LATE_JOIN_MB`, 0 skips it). With `--cluster`
 * two servers share a real Redis (cluster mode): the agent on one, the
 * dashboard on the other (the screen comes from the agent's node).
 *
 * @module
 */
import { Screen } from "../lib/agent/screen.ts";
import { RedisServer } from "../tests/redis_server.ts";
import { waitUntil } from "../tests/faults/dashboard.ts";
import {
  startSessionAgent,
  waitSnapshotCurrent,
} from "../tests/session_agent.ts";
import {
  type RawMessage,
  startTestServer,
  TestClient,
} from "../tests/helpers.ts";

/** Open a dashboard, ask for `commandId` and time until it is rendered. */
async function open(
  server: Awaited<ReturnType<typeof startTestServer>>,
  commandId: string,
  snapshot: boolean,
): Promise<{ ms: number; bytes: number; frames: number }> {
  const { commands } = server.services;
  const lastSeq = commands.broadcastSeq(commandId);
  const t0 = performance.now();
  const client = await TestClient.dashboard(server, "viewer");
  let screen = new Screen(100, 30, { scrollback: 1000 });
  try {
    client.send("terminal:resume", {
      commandId,
      afterSeq: 0,
      ...(snapshot ? { snapshot: true } : {}),
    });
    let bytes = 0;
    let frames = 0;
    let written: Promise<void> = Promise.resolve();
    let next = 0;
    // Write frames into the terminal as they arrive, in order.
    const take = () => {
      const raw = client.raw as RawMessage[];
      for (; next < raw.length; next++) {
        const m = raw[next];
        if (m.payload?.commandId !== commandId) continue;
        if (m.type === "terminal:snapshot") {
          screen.dispose();
          screen = new Screen(m.payload.cols, m.payload.rows);
          const target = screen;
          written = written.then(() => target.write(m.payload.data));
        } else if (m.type === "terminal:output") {
          const target = screen;
          written = written.then(() => target.write(m.payload.data));
        } else continue;
        frames++;
        bytes += m.payload.data.length;
      }
    };
    await client.until(() => {
      take();
      const last = (client.raw as RawMessage[]).findLast((m) =>
        m.type === "terminal:output" && m.payload.commandId === commandId
      );
      const snap = (client.raw as RawMessage[]).find((m) =>
        m.type === "terminal:snapshot"
      );
      return (last?.payload.seq ?? snap?.payload.seq) === lastSeq;
    }, { timeoutMs: 600_000, what: `seq ${lastSeq}` });
    await written;
    const ms = performance.now() - t0;
    if (screen.cursorLine() !== "$") {
      throw new Error(`The rendered screen ends "${screen.cursorLine()}"`);
    }
    return { ms, bytes, frames };
  } finally {
    screen.dispose();
    await client.close();
  }
}

/**
 * Run the benchmark with `mib` MiB of history; returns table rows and
 * prints `FIGURE late_join_snapshot_ms=` and `late_join_replay_ms=`.
 */
export async function lateJoin(
  mib: number,
  options: { cluster?: boolean } = {},
): Promise<[string, string][]> {
  const redis = options.cluster ? await RedisServer.start() : null;
  try {
    return await run(mib, redis);
  } finally {
    await redis?.close();
  }
}

async function run(
  mib: number,
  redis: RedisServer | null,
): Promise<[string, string][]> {
  const cluster = redis ? { redisUrl: redis.url } : {};
  await using server = await startTestServer(cluster);
  // Cluster mode: the dashboard on another node.
  await using other = redis ? await startTestServer(cluster) : null;
  const viewer = other ?? server;
  const cwd = await Deno.makeTempDir({ prefix: "fd-bench-late-" });
  const line = "history " + "x".repeat(70);
  // An interactive shell after the history: its screen is the history's
  // tail with a full scrollback (the largest snapshots), then its prompt.
  const program = `yes '${line}' | head -c ${mib}M; echo; ` +
    `exec env PS1='$ ' bash --norc --noprofile -i`;
  const agent = await startSessionAgent(server, "bench-late", {
    type: "shell",
    cwd,
    cols: 100,
    rows: 30,
    program: ["bash", "-c", program],
  });
  const { commands, registry } = server.services;
  try {
    const t0 = performance.now();
    const session = await waitUntil(
      () => {
        const id = registry.get("bench-late")?.currentCommandId;
        return id ? id : null;
      },
      30_000,
      "the session",
    );
    await waitUntil(
      () => registry.get("bench-late")?.activity === "waiting",
      1_200_000,
      "the shell at its prompt after the history",
    );
    await waitSnapshotCurrent(
      server,
      session,
      "a snapshot of the prompt",
      60_000,
    );
    const stored = (await commands.get(session))!.outputBytes;
    const lastSeq = commands.broadcastSeq(session);
    await waitUntil(
      () => viewer.services.commands.broadcastSeq(session) === lastSeq,
      60_000,
      "the viewer's node passing the output on",
    );
    const fill = (performance.now() - t0) / 1000;
    const viaSnapshot = await open(viewer, session, true);
    const viaReplay = await open(viewer, session, false);
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    console.log(`FIGURE late_join_snapshot_ms=${viaSnapshot.ms.toFixed(0)}`);
    console.log(`FIGURE late_join_replay_ms=${viaReplay.ms.toFixed(0)}`);
    console.log(
      `late join${redis ? " (cluster: dashboard on another node)" : ""}, ${
        mb(stored)
      } of session history (stored in ` +
        `${fill.toFixed(1)} s): current screen rendered in ` +
        `${viaSnapshot.ms.toFixed(0)} ms via snapshot ` +
        `(${viaSnapshot.frames} frames, ${mb(viaSnapshot.bytes)}), ` +
        `${viaReplay.ms.toFixed(0)} ms via full replay ` +
        `(${viaReplay.frames} frames, ${mb(viaReplay.bytes)})`,
    );
    return [
      [
        `open a session with ${
          mb(stored)
        } of history → current screen rendered (snapshot)`,
        `${viaSnapshot.ms.toFixed(0)} ms`,
      ],
      [
        `the same by full replay from seq 0 (the old path)`,
        `${viaReplay.ms.toFixed(0)} ms`,
      ],
    ];
  } finally {
    await agent.kill("SIGKILL");
    await Deno.remove(cwd, { recursive: true });
  }
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => a !== "--cluster");
  const mib = Number(args[0] ?? 100);
  const cluster = Deno.args.includes("--cluster");
  for (const [what, value] of await lateJoin(mib, { cluster })) {
    console.log(`| ${what} | ${value} |`);
  }
}
