/**
 * Command-line tools: `token.ts` signs with the secret the server reads from
 * the same FLIGHTDECK_DATA, and `agent.ts` reports bad tokens and flags with
 * its documented exit codes.
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  anonymousDashboard,
  RawAgent,
  ROOT,
  startTestServer,
  waitRaw,
  withTimeout,
} from "./helpers.ts";

/** Run `deno run -A <script> ...args` with `env`; returns code and output. */
async function run(
  script: string,
  args: string[],
  env: Record<string, string> = {},
) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}${script}`, ...args],
    cwd: ROOT,
    stdin: "null",
    env: {
      NO_PROXY: "127.0.0.1,localhost",
      // Never pick up a secret or data folder from the caller's environment.
      FLIGHTDECK_SECRET: "",
      FLIGHTDECK_DATA: "",
      FLIGHTDECK_TOKEN: "",
      FLIGHTDECK_SERVER: "",
      ...env,
    },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

const lastLine = (text: string) => text.trimEnd().split("\n").at(-1) ?? "";

Deno.test("cli: token.ts prints a JWT on its last stdout line that the server accepts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-cli-" });
  try {
    await using server = await startTestServer({
      dataDir,
      secret: undefined,
      kvPath: ":memory:",
    });
    const agentToken = await run(
      "token.ts",
      ["--role", "agent", "--agent-id", "cli-1"],
      { FLIGHTDECK_DATA: dataDir },
    );
    assert.equal(agentToken.code, 0, agentToken.stderr);
    const jwt = lastLine(agentToken.stdout);
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const principal = await server.services.auth.verify(jwt);
    assert.equal(principal.role, "agent");
    assert.equal(principal.agentId, "cli-1");
    // About 30 days for agents by default.
    const days = (principal.expiresAt - Date.now()) / 86_400_000;
    assert.ok(days > 29 && days <= 30, `expires in ${days} days`);

    // Over the wire: the agent registers with it.
    const agent = await RawAgent.connect(server, "cli-1", { token: jwt });
    await agent.close();

    const operatorToken = await run("token.ts", [
      "--role",
      "operator",
      "--ttl",
      "15m",
    ], { FLIGHTDECK_DATA: dataDir });
    assert.equal(operatorToken.code, 0, operatorToken.stderr);
    const dash = await anonymousDashboard(server, {
      authorization: `Bearer ${lastLine(operatorToken.stdout)}`,
    });
    try {
      const ack = await waitRaw(dash, (m) => m.type === "connection:ack", {
        timeoutMs: 3000,
      });
      assert.deepEqual(ack.payload.user, { id: "operator", role: "operator" });
    } finally {
      await dash.close();
    }

    // A token made with another data folder's secret is refused.
    const otherDir = await Deno.makeTempDir({ prefix: "flightdeck-cli-" });
    try {
      const other = await run("token.ts", ["--role", "operator"], {
        FLIGHTDECK_DATA: otherDir,
      });
      assert.equal(other.code, 0, other.stderr);
      await assert.rejects(() =>
        server.services.auth.verify(lastLine(other.stdout))
      );
    } finally {
      await Deno.remove(otherDir, { recursive: true });
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("cli: token.ts --role agent without --agent-id exits 2 with a message", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-cli-" });
  try {
    const result = await run("token.ts", ["--role", "agent"], {
      FLIGHTDECK_DATA: dataDir,
    });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /--agent-id is required with --role agent/);
    const badRole = await run("token.ts", ["--role", "root"], {
      FLIGHTDECK_DATA: dataDir,
    });
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /--role/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("cli: an agent with a bad token says it was rejected and exits 3", async () => {
  await using server = await startTestServer();
  const agent = new AgentProcess([
    "--server",
    server.url,
    "--token",
    "not-a-valid-token",
    "--name",
    "rejected-1",
  ]);
  try {
    const status = await withTimeout(agent.status, 10_000, "agent exit");
    assert.equal(status.code, 3, agent.stderr);
    assert.match(agent.stderr, /rejected/);
  } finally {
    await agent.kill();
  }
});

Deno.test("cli: an agent whose token names another agent id exits 4", async () => {
  await using server = await startTestServer();
  const agent = new AgentProcess([
    "--server",
    server.url,
    "--token",
    await server.token("agent", "owner"),
    "--name",
    "thief",
    "--id",
    "thief",
  ]);
  try {
    const status = await withTimeout(agent.status, 10_000, "agent exit");
    assert.equal(status.code, 4, agent.stderr);
    assert.match(agent.stderr, /refused/);
  } finally {
    await agent.kill();
  }
});

Deno.test("cli: agent.ts --help lists every flag; bad flags exit 2", async () => {
  const help = await run("agent.ts", ["--help"]);
  assert.equal(help.code, 0);
  for (
    const flag of [
      "--server",
      "--token",
      "--name",
      "--id",
      "--type",
      "--cwd",
      "--claude-cmd",
      "--gemini-cmd",
      "--codex-cmd",
      "--grace-ms",
      "--max-buffer-bytes",
      "--help",
    ]
  ) {
    assert.match(help.stdout, new RegExp(`^\\s+${flag}\\b`, "m"), flag);
  }
  // Every flag the parser knows is documented.
  const source = await Deno.readTextFile(`${ROOT}lib/agent/cli.ts`);
  const options = source.slice(source.indexOf("options: {"));
  const known = [
    ...options.slice(0, options.indexOf("}")).matchAll(
      /^\s+"?([a-z-]+)"?: (?:str|\{)/gm,
    ),
  ].map((m) => m[1]);
  assert.ok(known.length >= 10, known.join());
  for (const flag of known) {
    assert.match(help.stdout, new RegExp(`--${flag}\\b`), flag);
  }

  for (
    const args of [
      ["--bogus"],
      ["--token", "t"], // no --name
      ["--name", "x", "--token", "t", "--type", "robot"],
      ["--name", "x", "--token", "t", "--grace-ms", "-1"],
      ["--name", "x", "--token", "t", "--server", "ftp://x"],
    ]
  ) {
    const result = await run("agent.ts", args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /--help/);
  }
});
