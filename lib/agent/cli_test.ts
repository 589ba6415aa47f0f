import assert from "node:assert/strict";
import { parseCli, slugify, tokenAgentId } from "./cli.ts";

const agentTs = new URL("../../agent.ts", import.meta.url).pathname;

async function runAgent(args: string[]) {
  const env = { ...Deno.env.toObject() };
  delete env.FLIGHTDECK_TOKEN;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", agentTs, ...args],
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: output.code,
    stdout: decode(output.stdout),
    stderr: decode(output.stderr),
  };
}

/** An unsigned JWT with `claims` as payload (the agent never verifies it). */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-")
      .replace(/\//g, "_");
  return `${part({ alg: "HS256" })}.${part(claims)}.c2ln`;
}

Deno.test("agent.ts --help documents every flag and exits 0", async () => {
  const { code, stdout } = await runAgent(["--help"]);
  assert.equal(code, 0);
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
      "--timeout-ms",
      "--max-buffer-bytes",
      "--pty",
      "--session",
      "--cols",
      "--rows",
      "--restart",
      "--stall-after",
      "--waiting-pattern",
      "--input-pattern",
      "--log-file",
      "--headless",
      "--help",
      "FLIGHTDECK_TOKEN",
      "FLIGHTDECK_PTY",
      "Example:",
    ]
  ) {
    assert.ok(stdout.includes(flag), `help mentions ${flag}`);
  }
});

Deno.test("agent.ts without --name exits 2 naming the flag", async () => {
  const { code, stderr } = await runAgent(["--token", "t"]);
  assert.equal(code, 2);
  assert.equal(
    stderr,
    "flightdeck-agent: --name is required. Run with --help for usage.\n",
  );
});

Deno.test("agent.ts --pty --cols 0 exits 2 naming --cols", async () => {
  const { code, stderr } = await runAgent([
    "--pty",
    "--cols",
    "0",
    "--name",
    "a",
    "--token",
    "t",
  ]);
  assert.equal(code, 2);
  assert.equal(
    stderr,
    "flightdeck-agent: --cols must be at least 1. Run with --help for usage.\n",
  );
});

Deno.test("parseCli() turns PTY mode on with --pty or FLIGHTDECK_PTY=1", () => {
  const base = ["--name", "a", "--token", "t"];
  const pty = (args: string[], env: Record<string, string> = {}) => {
    const result = parseCli([...base, ...args], env, "/tmp");
    return result.kind === "run" ? result.pty : result;
  };
  assert.equal(pty([]), undefined);
  assert.equal(pty([], { FLIGHTDECK_PTY: "0" }), undefined);
  assert.deepEqual(pty(["--pty"]), { cols: 120, rows: 40 });
  assert.deepEqual(pty([], { FLIGHTDECK_PTY: "1" }), { cols: 120, rows: 40 });
  assert.deepEqual(pty(["--pty", "--cols", "80", "--rows=24"]), {
    cols: 80,
    rows: 24,
  });
  assert.deepEqual(pty([], { FLIGHTDECK_PTY: "maybe" }), {
    kind: "error",
    message: 'FLIGHTDECK_PTY must be 1 or 0, not "maybe"',
  });
  assert.deepEqual(pty(["--pty", "--rows", "1001"]), {
    kind: "error",
    message: "--rows must be at most 1000",
  });
  assert.deepEqual(pty(["--pty", "--cols", "2.5"]), {
    kind: "error",
    message: "--cols must be an integer",
  });
});

Deno.test("parseCli() applies defaults and reads the token's agentId", () => {
  const result = parseCli(
    ["--name", "Build #1", "--server", "https://fd.example"],
    { FLIGHTDECK_TOKEN: jwt({ agentId: "build-7" }) },
    "/tmp",
  );
  assert.equal(result.kind, "run");
  if (result.kind !== "run") return;
  assert.deepEqual({ ...result.options, token: "" }, {
    serverUrl: "https://fd.example",
    token: "",
    agentId: "build-7",
    name: "Build #1",
    type: "shell",
    cwd: "/tmp",
    reportGit: true,
    templates: {
      claude: ["claude", "-p"],
      gemini: ["gemini"],
      codex: ["codex", "exec"],
    },
    graceMs: 2000,
    maxBufferBytes: 64 * 1024 * 1024,
  });
});

Deno.test("parseCli() takes repeated --tag flags in order, once each, and --no-git", () => {
  const result = parseCli(
    [
      "--name",
      "a",
      "--token",
      "t",
      "--tag",
      "gpu",
      "--tag=team:web",
      "--tag",
      "gpu",
      "--no-git",
    ],
    {},
    "/tmp",
  );
  assert.equal(result.kind, "run");
  if (result.kind !== "run") return;
  assert.deepEqual(result.options.tags, ["gpu", "team:web"]);
  assert.equal(result.options.reportGit, false);
});

Deno.test("parseCli() refuses a bad --tag and more than 16", () => {
  const message = (args: string[]) => {
    const result = parseCli(
      ["--name", "a", "--token", "t", ...args],
      {},
      "/tmp",
    );
    return result.kind === "error" ? result.message : result.kind;
  };
  assert.equal(
    message(["--tag", "two words"]),
    '--tag "two words" is invalid: use letters, digits and . _ : / - (starting with a letter or digit)',
  );
  assert.equal(
    message(["--tag=-x"]),
    '--tag "-x" is invalid: use letters, digits and . _ : / - (starting with a letter or digit)',
  );
  assert.equal(
    message(["--tag", "x".repeat(33)]),
    `--tag "${"x".repeat(33)}" is invalid: longer than 32 characters`,
  );
  const many = Array.from({ length: 17 }, (_, i) => ["--tag", `t${i}`]).flat();
  assert.equal(message(many), "At most 16 --tag flags");
  assert.equal(message(many.slice(0, 32)), "run");
});

Deno.test("parseCli() names the failing flag", () => {
  const base = ["--name", "a", "--token", "t"];
  const message = (args: string[]) => {
    const result = parseCli([...base, ...args], {}, "/tmp");
    return result.kind === "error" ? result.message : result.kind;
  };
  assert.equal(message(["--grace-ms=-1"]), "--grace-ms must be at least 0");
  assert.equal(
    message(["--timeout-ms", "0"]),
    "--timeout-ms must be at least 1",
  );
  assert.equal(
    message(["--timeout-ms", "604800001"]),
    "--timeout-ms must be at most 604800000",
  );
  assert.equal(
    message(["--timeout-ms", "soon"]),
    "--timeout-ms must be a number",
  );
  assert.equal(
    message(["--server", "ws://x"]),
    "--server must be an http:// or https:// URL",
  );
  assert.equal(message(["--cwd", "/no/such/dir"]), "--cwd must be a directory");
  assert.equal(
    message(["--type", "vim"]),
    "--type must be one of shell, claude, gemini, codex",
  );
  assert.equal(message(["--bogus"]), "Unknown option '--bogus'");
  assert.equal(parseCli(["--name", "a"], {}, "/tmp").kind, "error");
});

Deno.test("tokenAgentId() and slugify() derive the default id", () => {
  assert.equal(tokenAgentId(jwt({ agentId: "a-1" })), "a-1");
  assert.equal(tokenAgentId(jwt({ sub: "x" })), undefined);
  assert.equal(tokenAgentId("not a jwt"), undefined);
  assert.equal(slugify("  Build Box #2 "), "build-box-2");
  assert.equal(slugify("***"), "agent");
});

Deno.test("parseCli() --session: the program after --, else the type's interactive CLI; a PTY at --cols x --rows", () => {
  const base = ["--name", "a", "--token", "t"];
  const run = (args: string[]) => {
    const result = parseCli([...base, ...args], {}, "/tmp");
    return result.kind === "run"
      ? { session: result.options.session, pty: result.pty }
      : result;
  };
  assert.deepEqual(run([]), { session: undefined, pty: undefined });
  const defaults = { cols: 120, rows: 40 };
  assert.deepEqual(run(["--session"]), {
    session: { argv: ["bash", "-l"], restart: "never" },
    pty: defaults,
  });
  for (const type of ["claude", "gemini", "codex"]) {
    assert.deepEqual(run(["--type", type, "--session"]), {
      session: { argv: [type], restart: "never" },
      pty: defaults,
    });
  }
  // Everything after the first -- is the program, flags included.
  assert.deepEqual(
    run(["--session", "--cols", "80", "--", "my-cli", "--x", "--", "y"]),
    {
      session: { argv: ["my-cli", "--x", "--", "y"], restart: "never" },
      pty: { cols: 80, rows: 40 },
    },
  );
  assert.deepEqual(run(["--", "my-cli"]), {
    kind: "error",
    message: "A program after -- needs --session",
  });
  assert.deepEqual(run(["--session", "--"]), {
    kind: "error",
    message: "No program after --",
  });
});

Deno.test("parseCli() --restart, --stall-after, --waiting-pattern, --input-pattern: parsed for sessions and --pty, refused elsewhere", () => {
  const base = ["--name", "a", "--token", "t"];
  const run = (args: string[]) => {
    const result = parseCli([...base, ...args], {}, "/tmp");
    return result.kind === "run"
      ? {
        restart: result.options.session?.restart,
        activity: result.options.activity,
      }
      : result;
  };
  assert.deepEqual(run(["--session"]), {
    restart: "never",
    activity: { stallAfterMs: 300_000 },
  });
  assert.deepEqual(run([]), { restart: undefined, activity: undefined });
  assert.deepEqual(
    run([
      "--session",
      "--restart",
      "always",
      "--stall-after",
      "90s",
      "--waiting-pattern",
      "^ready>",
      "--input-pattern=Continue\\?",
    ]),
    {
      restart: "always",
      activity: {
        stallAfterMs: 90_000,
        waitingPattern: /^ready>/u,
        inputPattern: /Continue\?/u,
      },
    },
  );
  assert.deepEqual(run(["--pty", "--stall-after", "2m"]), {
    restart: undefined,
    activity: { stallAfterMs: 120_000 },
  });
  assert.deepEqual(run(["--restart", "always"]), {
    kind: "error",
    message: "--restart needs --session",
  });
  assert.deepEqual(run(["--pty", "--restart", "always"]), {
    kind: "error",
    message: "--restart needs --session",
  });
  for (
    const flag of ["--stall-after", "--waiting-pattern", "--input-pattern"]
  ) {
    assert.deepEqual(run([flag, "5m"]), {
      kind: "error",
      message: `${flag} needs --session or --pty`,
    });
  }
  assert.deepEqual(run(["--session", "--restart", "maybe"]), {
    kind: "error",
    message: '--restart must be always or never, not "maybe"',
  });
  assert.deepEqual(run(["--session", "--stall-after", "soon"]), {
    kind: "error",
    message: '--stall-after must be a duration like 90s, 5m or 1h, not "soon"',
  });
  const bad = run(["--session", "--input-pattern", "(unclosed"]);
  assert.equal("kind" in bad && bad.kind, "error");
  assert.match(
    "message" in bad ? bad.message : "",
    /^--input-pattern is not a valid regular expression: /,
  );
});

Deno.test("agent.ts --session --waiting-pattern with a bad regular expression exits 2 and says why", async () => {
  const { code, stdout, stderr } = await runAgent([
    "--name",
    "a",
    "--token",
    "t",
    "--session",
    "--waiting-pattern",
    "[unclosed",
  ]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /flightdeck-agent: --waiting-pattern is not a valid regular expression: .*\. Run with --help for usage\./,
  );
});

Deno.test("parseCli() --log-file is resolved where deno task was typed", () => {
  const result = parseCli(
    ["--name", "a", "--token", "t", "--log-file", "agent.log"],
    { INIT_CWD: "/home/me" },
    "/tmp",
  );
  assert.equal(result.kind === "run" && result.logFile, "/home/me/agent.log");
  const absolute = parseCli(
    ["--name", "a", "--token", "t", "--log-file", "/var/log/a.log"],
    {},
    "/tmp",
  );
  assert.equal(absolute.kind === "run" && absolute.logFile, "/var/log/a.log");
});

Deno.test("parseCli() --no-claude-hooks turns the wrapper's Claude Code hooks off", () => {
  const base = ["--name", "a", "--token", "t", "--type", "claude", "--session"];
  const hooks = (args: string[]) => {
    const result = parseCli([...base, ...args], {}, "/tmp");
    return result.kind === "run" ? result.options.claudeHooks : result;
  };
  assert.equal(hooks([]), undefined);
  assert.equal(hooks(["--no-claude-hooks"]), false);
});

Deno.test("parseCli() --timeout-ms becomes the agent's defaultTimeoutMs (absent without it)", () => {
  const result = parseCli(
    ["--name", "a", "--token", "t", "--timeout-ms", "90000"],
    {},
    "/tmp",
  );
  assert.equal(
    result.kind === "run" && result.options.defaultTimeoutMs,
    90_000,
  );
  const plain = parseCli(["--name", "a", "--token", "t"], {}, "/tmp");
  assert.equal(
    plain.kind === "run" && "defaultTimeoutMs" in plain.options,
    false,
  );
});
