/**
 * 60 MiB frames on sockets that never authenticate, against a real server
 * process: Deno reads each frame whole before the server sees it, so what
 * bounds memory is how many such sockets may exist at once. From one
 * address two are admitted (FLIGHTDECK_MAX_UNAUTH_PER_ADDRESS default), the
 * rest get HTTP 429 before any socket exists; an admitted one is closed
 * 1009 at its first frame over 16 KiB, and one with a bad token 4401. The
 * server's peak RSS stays under 450 MiB (the unfixed server, which admits
 * all ten, reached 975 MiB on the same attack), and a real agent and
 * dashboard connect and run a command while the attacker holds its two
 * places.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";
import { RawSocket, type UpgradeResult } from "./raw_socket.ts";
import { createDashboard, reportOf } from "./dashboard.ts";
import { figure, killAgent, startAgent, waitUntil } from "./fixtures.ts";

const FRAME = new Uint8Array(60 * 1024 * 1024).fill(0x61);
const RSS_BOUND = 450 * 2 ** 20;
const REFUSED = {
  error: {
    code: "RATE_LIMIT",
    message: 'Too many unauthenticated connections from "127.0.0.1" (limit 2)',
    recoverable: true,
  },
};

/**
 * Send up to `frames` 60 MiB frames, ignoring the server's close frame;
 * returns how many were written whole.
 */
async function attack(socket: RawSocket, frames: number): Promise<number> {
  let sent = 0;
  while (sent < frames && await socket.sendText(FRAME)) sent++;
  // Until the server's close frame (it waits for no answer to read more).
  await socket.until(() => socket.closeCode !== null);
  return sent;
}

async function unauthenticatedCount(server: ServerProcess): Promise<number> {
  const response = await fetch(`${server.url}/api/metrics`, {
    headers: { authorization: `Bearer ${await server.token("viewer")}` },
  });
  const text = await response.text();
  const match = /flightdeck_connections\{authenticated="false"\} (\d+)/.exec(
    text,
  );
  return match ? Number(match[1]) : -1;
}

Deno.test({
  name:
    "faults: 60 MiB frames on unauthenticated sockets: 429 over 2 per address, 1009/4401 for the admitted, RSS under 450 MiB, agents and dashboards unaffected",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    let peak = server.rssBytes();
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rssBytes());
    }, 10);
    const opened: UpgradeResult[] = [];
    try {
      // Round 1: ten upgrades in a row, then every admitted socket sends
      // two 60 MiB frames at once (20 frames if all were admitted).
      for (let i = 0; i < 10; i++) {
        opened.push(
          await RawSocket.open(
            server.port,
            i % 2 ? "/ws/dashboard" : "/ws/agent",
            i === 1 ? { authorization: "Bearer not-a-token" } : {},
          ),
        );
      }
      const admitted = opened.flatMap((r) => r.socket ? [r.socket] : []);
      await Promise.all(admitted.map((socket) => attack(socket, 2)));
      figure("unauth_frames_round1_peak_rss_mb", Math.round(peak / 2 ** 20));
      assert.deepEqual(
        opened.map((r) => r.status),
        [101, 101, 429, 429, 429, 429, 429, 429, 429, 429],
      );
      for (const refused of opened.slice(2)) {
        assert.deepEqual(JSON.parse(refused.body), REFUSED);
      }
      // The agent path without a token: closed at its first frame; the
      // dashboard with a bad token: closed when it opened.
      assert.deepEqual(admitted.map((s) => s.closeCode), [1009, 4401]);
      // The attacker answers no close frame: Deno drops the connection at
      // its next data frame.
      await Promise.all(admitted.map((s) => s.until(() => s.ended)));
      // Released when the server's sockets report their close.
      let unauthenticated = -1;
      await waitUntil(
        async () =>
          (unauthenticated = await unauthenticatedCount(server)) === 0,
        10_000,
        "no unauthenticated socket counted",
        () => `${unauthenticated} still counted`,
      );

      // Round 2: the attacker holds both places again, silent, while a real
      // agent and dashboard connect (authenticated at the upgrade) and run
      // a command; the silent sockets get 4401 at the 5 s deadline.
      const round2 = [];
      for (let i = 0; i < 3; i++) {
        round2.push(await RawSocket.open(server.port, "/ws/dashboard"));
      }
      assert.deepEqual(round2.map((r) => r.status), [101, 101, 429]);
      opened.push(...round2);
      const agent = await startAgent(server, "unauth-1");
      const dashboard = await createDashboard({
        wsUrl: server.wsUrl,
        token: await server.token("operator"),
      });
      try {
        await waitUntil(
          () => dashboard.agentStatus("unauth-1") === "online",
          15_000,
          "agent online",
        );
        const id = await dashboard.request("unauth-1", "echo still-here");
        const command = await dashboard.waitComplete(id, 30_000);
        assert.equal(command.status, "completed");
        assert.equal(reportOf(dashboard, id).text, "still-here\n");
        const held = round2.slice(0, 2).map((r) => r.socket!);
        await Promise.all(held.map((s) => s.until(() => s.closeCode !== null)));
        assert.deepEqual(held.map((s) => s.closeCode), [4401, 4401]);
        assert.equal(dashboard.connected, true);
        assert.equal(dashboard.agentStatus("unauth-1"), "online");
      } finally {
        dashboard.stop();
        await killAgent(agent);
      }
    } finally {
      clearInterval(sampler);
      await Promise.all(opened.map((r) => r.socket?.dispose()));
    }
    figure("unauth_frames_peak_rss_mb", Math.round(peak / 2 ** 20));
    assert.ok(peak < RSS_BOUND, `peak RSS ${Math.round(peak / 2 ** 20)} MiB`);
  },
});
