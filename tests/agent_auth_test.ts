/**
 * Agent tokens with real agent processes: kept out of the command line and
 * the output (`FLIGHTDECK_TOKEN`, `--token-file`), renewed before they
 * expire, and a connection with the same id replaces the old one only once
 * authenticated, loudly on both sides.
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  loggedTestServer,
  outputOf,
  queueCommand,
  RawAgent,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
  withTimeout,
} from "./helpers.ts";

/** An agent process given its token through FLIGHTDECK_TOKEN. */
function agentWithEnvToken(
  server: TestServer,
  id: string,
  token: string,
): AgentProcess {
  return new AgentProcess(
    ["--server", server.url, "--name", id],
    { FLIGHTDECK_TOKEN: token },
  );
}

Deno.test("agent auth: a second agent with the same id replaces the first only after authenticating; both agents and the server say so", async () => {
  await using server = await loggedTestServer();
  const token = await server.token("agent", "dup-1");
  const dashboard = await TestClient.dashboard(server);
  const first = agentWithEnvToken(server, "dup-1", token);
  let second: AgentProcess | undefined;
  try {
    await waitAgentStatus(dashboard, "dup-1", "online");
    const firstPeer = server.services.registry.peerOf("dup-1");

    // Not authenticated: a bad token, or a token of another agent, never
    // takes the id over.
    const bad = await RawAgent.open(server, "dup-1");
    bad.hello("not-a-token");
    assert.equal((await bad.client.waitClosed()).code, 4401);
    const thief = await RawAgent.open(server, "dup-1");
    thief.hello(await server.token("agent", "other"));
    assert.equal((await thief.client.waitClosed()).code, 4403);
    assert.equal(server.services.registry.peerOf("dup-1"), firstPeer);
    assert.ok(!server.lines.some((l) => l.includes("Agent replaced")));
    const id = await queueCommand(dashboard, {
      agentId: "dup-1",
      command: "echo still-here",
    });
    assert.equal((await waitFinal(dashboard, id)).status, "completed");

    // Authenticated: it replaces the first, which exits 4.
    second = agentWithEnvToken(server, "dup-1", token);
    const status = await withTimeout(first.status, 15_000, "first agent exit");
    assert.equal(status.code, 4, first.stderr);
    await first.waitStderr(
      /REPLACED by another agent that connected with id dup-1/,
    );
    await second.waitStderr(/REPLACED another connection with agent id dup-1/);
    const warning = server.lines.find((l) =>
      l.includes("Agent replaced by a new connection with the same id")
    );
    assert.ok(warning, server.lines.join("\n"));
    assert.match(warning, /"level":"warn"/);
    assert.match(warning, /dup-1/);
    for (const text of [first.stderr, second.stderr, ...server.lines]) {
      assert.ok(!text.includes(token), "the token is never printed");
    }
  } finally {
    await first.kill();
    await second?.kill();
    await dashboard.close();
  }
});

Deno.test("agent auth: --token-file readable by others is refused (exit 2) without printing the token", async () => {
  await using server = await startTestServer();
  const token = await server.token("agent", "file-1");
  const path = await Deno.makeTempFile({ suffix: ".token" });
  try {
    await Deno.writeTextFile(path, token + "\n");
    await Deno.chmod(path, 0o644);
    const agent = new AgentProcess([
      "--server",
      server.url,
      "--token-file",
      path,
      "--name",
      "file-1",
    ]);
    const status = await withTimeout(agent.status, 15_000, "agent exit");
    assert.equal(status.code, 2, agent.stderr);
    await agent.waitStderr(/mode 0644\); run chmod 600/);
    assert.ok(!agent.stderr.includes(token));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("agent auth: a 0600 --token-file connects; neither it nor FLIGHTDECK_TOKEN prints the token or a warning", async () => {
  await using server = await startTestServer();
  const token = await server.token("agent", "file-2");
  const envToken = await server.token("agent", "env-2");
  const path = await Deno.makeTempFile({ suffix: ".token" });
  const dashboard = await TestClient.dashboard(server);
  await Deno.writeTextFile(path, token + "\n");
  await Deno.chmod(path, 0o600);
  const fromFile = new AgentProcess([
    "--server",
    server.url,
    "--token-file",
    path,
    "--name",
    "file-2",
  ]);
  const fromEnv = agentWithEnvToken(server, "env-2", envToken);
  try {
    await waitAgentStatus(dashboard, "file-2", "online");
    await waitAgentStatus(dashboard, "env-2", "online");
    await fromFile.waitStderr(/connected to/);
    await fromEnv.waitStderr(/connected to/);
    for (const agent of [fromFile, fromEnv]) {
      assert.ok(!agent.stderr.includes(token));
      assert.ok(!agent.stderr.includes(envToken));
      assert.ok(!agent.stderr.includes("WARNING"), agent.stderr);
    }
  } finally {
    await fromFile.kill();
    await fromEnv.kill();
    await dashboard.close();
    await Deno.remove(path);
  }
});

Deno.test("agent auth: commands cannot read the agent's token or token file from the environment, with pipes or a PTY", async () => {
  await using server = await startTestServer();
  const dashboard = await TestClient.dashboard(server);
  const path = await Deno.makeTempFile({ suffix: ".token" });
  const agents: AgentProcess[] = [];
  try {
    const envToken = await server.token("agent", "env-3");
    const fileToken = await server.token("agent", "file-pty-3");
    await Deno.writeTextFile(path, fileToken + "\n");
    await Deno.chmod(path, 0o600);
    const cases: {
      id: string;
      token: string;
      extra: string[];
      env: Record<string, string>;
    }[] = [
      {
        id: "env-3",
        token: envToken,
        extra: [],
        env: { FLIGHTDECK_TOKEN: envToken },
      },
      {
        id: "file-pty-3",
        token: fileToken,
        extra: ["--pty"],
        env: { FLIGHTDECK_TOKEN_FILE: path },
      },
    ];
    for (const { id, token, extra, env } of cases) {
      const agent = new AgentProcess(
        ["--server", server.url, "--name", id, ...extra],
        env,
      );
      agents.push(agent);
      await waitAgentStatus(dashboard, id, "online");
      const commandId = await queueCommand(dashboard, {
        agentId: id,
        command:
          'echo "token=[${FLIGHTDECK_TOKEN-unset}] file=[${FLIGHTDECK_TOKEN_FILE-unset}]"',
      });
      const final = await waitFinal(dashboard, commandId);
      assert.equal(final.status, "completed", id);
      const text = outputOf(dashboard, commandId).text.replaceAll("\r", "");
      assert.ok(!text.includes(token), `${id}: the token leaked`);
      assert.match(text, /token=\[unset\] file=\[unset\]\n/, id);
    }
  } finally {
    for (const agent of agents) await agent.kill();
    await dashboard.close();
    await Deno.remove(path);
  }
});

Deno.test("agent auth: --token still works but warns that it is visible in ps, without echoing it", async () => {
  await using server = await startTestServer();
  const token = await server.token("agent", "flag-1");
  const dashboard = await TestClient.dashboard(server);
  const agent = new AgentProcess([
    "--server",
    server.url,
    "--token",
    token,
    "--name",
    "flag-1",
  ]);
  try {
    await waitAgentStatus(dashboard, "flag-1", "online");
    await agent.waitStderr(
      /WARNING: --token puts the token on the command line/,
    );
    assert.match(agent.stderr, /\(ps, \/proc\)/);
    assert.ok(!agent.stderr.includes(token));
  } finally {
    await agent.kill();
    await dashboard.close();
  }
});

Deno.test("agent auth: a running agent renews its token and reconnects with the renewed one after the original expired", async () => {
  await using server = await startTestServer();
  const token = await server.services.auth.sign({
    role: "agent",
    agentId: "renew-1",
    ttlSeconds: 3,
  });
  const dashboard = await TestClient.dashboard(server);
  const agent = agentWithEnvToken(server, "renew-1", token);
  try {
    await waitAgentStatus(dashboard, "renew-1", "online");
    // Signed after the agent's token and living longer: once it has
    // expired, so has the agent's original token.
    const control = await RawAgent.connect(server, "ctl-1", {
      token: await server.services.auth.sign({
        role: "agent",
        agentId: "ctl-1",
        ttlSeconds: 4,
      }),
    });
    assert.deepEqual(await control.client.waitClosed(15_000), {
      code: 4401,
      reason: "Token expired",
    });
    await control.close();
    await assert.rejects(
      server.services.sessions.verify(token),
      /Token expired/,
    );
    const peer = server.services.registry.peerOf("renew-1");
    assert.ok(peer?.isOpen, "still connected past the original expiry");
    await agent.waitStderr(/token refreshed; valid until/);

    // Drop the connection: the agent must come back with the renewed token.
    const from = dashboard.messages.length;
    peer.close(1001, "test restart");
    await dashboard.waitFor(
      (m) =>
        m.type === "agent:status" && m.payload.agent.id === "renew-1" &&
        m.payload.agent.status === "offline",
      { from },
    );
    await dashboard.waitFor(
      (m) =>
        m.type === "agent:status" && m.payload.agent.id === "renew-1" &&
        m.payload.agent.status === "online",
      { from },
    );
    const id = await queueCommand(dashboard, {
      agentId: "renew-1",
      command: "echo renewed",
    });
    assert.equal((await waitFinal(dashboard, id)).status, "completed");
    assert.ok(!agent.stderr.includes("rejected"), agent.stderr);
  } finally {
    await agent.kill();
    await dashboard.close();
  }
});

/** Run `deno run -A token.ts ...args` with its own data folder. */
async function runToken(args: string[], dataDir: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "token.ts", ...args],
    cwd: new URL("../", import.meta.url).pathname,
    stdin: "null",
    env: {
      FLIGHTDECK_DATA: dataDir,
      FLIGHTDECK_SECRET: "",
      FLIGHTDECK_MAX_TOKEN_TTL: "",
    },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("agent auth: token.ts refuses a --ttl over the maximum with a clear error, and --out writes a 0600 file", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-token-" });
  try {
    const tooLong = await runToken(
      ["--role", "agent", "--agent-id", "t-1", "--ttl", "91d"],
      dataDir,
    );
    assert.equal(tooLong.code, 2);
    assert.equal(tooLong.stdout, "");
    assert.match(
      tooLong.stderr,
      /--ttl: "91d" is over the maximum of 90d \(FLIGHTDECK_MAX_TOKEN_TTL/,
    );

    const out = `${dataDir}/t-1.token`;
    await Deno.writeTextFile(out, "old");
    await Deno.chmod(out, 0o644);
    const written = await runToken(
      ["--role", "agent", "--agent-id", "t-1", "--ttl", "90d", "--out", out],
      dataDir,
    );
    assert.equal(written.code, 0, written.stderr);
    assert.equal(written.stdout, "", "the token is not printed");
    assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);
    const token = (await Deno.readTextFile(out)).trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.ok(!written.stderr.includes(token));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
