import assert from "node:assert/strict";
import { parseCli, readTokenFile, TOKEN_FLAG_WARNING } from "./cli.ts";

const TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhZ2VudElkIjoiZi0xIn0.c2ln";

async function withTokenFile(
  mode: number,
  test: (dir: string, name: string) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-token-file-" });
  try {
    await Deno.writeTextFile(`${dir}/agent.token`, `${TOKEN}\n`);
    await Deno.chmod(`${dir}/agent.token`, mode);
    test(dir, "agent.token");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseCli() reads --token-file relative to INIT_CWD (where deno task was typed)", async () => {
  await withTokenFile(0o600, (dir, name) => {
    const result = parseCli(
      ["--name", "f", "--token-file", name],
      { INIT_CWD: dir },
      "/",
    );
    assert.equal(result.kind, "run");
    if (result.kind !== "run") return;
    assert.equal(result.options.token, TOKEN);
    assert.equal(result.options.agentId, "f-1");
    assert.deepEqual(result.warnings, []);
  });
});

Deno.test("parseCli() takes FLIGHTDECK_TOKEN_FILE like --token-file", async () => {
  await withTokenFile(0o400, (dir, name) => {
    const result = parseCli(
      ["--name", "f"],
      { FLIGHTDECK_TOKEN_FILE: `${dir}/${name}` },
      "/",
    );
    assert.equal(result.kind, "run");
    if (result.kind === "run") assert.equal(result.options.token, TOKEN);
  });
});

Deno.test("parseCli() refuses a token file others can read or write, naming the mode and the fix", async () => {
  for (const mode of [0o644, 0o640, 0o602]) {
    await withTokenFile(mode, (dir, name) => {
      const path = `${dir}/${name}`;
      const result = parseCli(["--name", "f", "--token-file", path], {}, "/");
      const shown = mode.toString(8).padStart(4, "0");
      assert.deepEqual(result, {
        kind: "error",
        message: `Refusing --token-file "${path}": it is readable by other ` +
          `users (mode ${shown}); run chmod 600 "${path}"`,
      });
    });
  }
});

Deno.test("parseCli() warns for --token and refuses --token with --token-file", () => {
  const flag = parseCli(["--name", "f", "--token", TOKEN], {}, "/");
  assert.equal(flag.kind, "run");
  if (flag.kind === "run") {
    assert.deepEqual(flag.warnings, [TOKEN_FLAG_WARNING]);
  }
  assert.ok(!TOKEN_FLAG_WARNING.includes(TOKEN));
  assert.deepEqual(
    parseCli(
      ["--name", "f", "--token", TOKEN, "--token-file", "x"],
      {},
      "/",
    ),
    { kind: "error", message: "Use --token or --token-file, not both" },
  );
});

Deno.test("readTokenFile() reports a missing or empty file", async () => {
  const missing = readTokenFile("/nonexistent/flightdeck.token");
  assert.ok("error" in missing);
  assert.match(
    missing.error,
    /^Cannot read --token-file "\/nonexistent\/flightdeck\.token": /,
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/empty`, "\n");
    await Deno.chmod(`${dir}/empty`, 0o600);
    assert.deepEqual(readTokenFile(`${dir}/empty`), {
      error: `--token-file "${dir}/empty" is empty`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
