/**
 * Named users from the command line: `deno task token --user NAME` (and
 * its older name `--subject`) puts the person's name in the token, and
 * the server acts for that name.
 */
import assert from "node:assert/strict";
import { ROOT, startTestServer, TestClient, waitRaw } from "./helpers.ts";

async function token(args: string[], dataDir: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}token.ts`, ...args],
    cwd: ROOT,
    stdin: "null",
    env: { FLIGHTDECK_SECRET: "", FLIGHTDECK_DATA: dataDir },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    jwt: decoder.decode(output.stdout).trimEnd().split("\n").at(-1) ?? "",
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("cli: token.ts --user NAME signs in as NAME (--subject is the same flag)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-user-" });
  try {
    await using server = await startTestServer({
      dataDir,
      secret: undefined,
      kvPath: ":memory:",
    });
    for (
      const [flag, name] of [["--user", "alice"], ["--subject", "bob"]]
    ) {
      const made = await token(["--role", "operator", flag, name], dataDir);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stderr, new RegExp(`\\(user ${name}\\)`));
      const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
        authorization: `Bearer ${made.jwt}`,
      });
      try {
        const ack = await waitRaw(client, (m) => m.type === "connection:ack");
        assert.deepEqual(ack.payload.user, { id: name, role: "operator" });
      } finally {
        await client.close();
      }
    }
    const both = await token(
      ["--role", "operator", "--user", "alice", "--subject", "bob"],
      dataDir,
    );
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--user and --subject name different users/);
    const empty = await token(["--role", "viewer", "--user", " "], dataDir);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /--user/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
