/**
 * `deno task token` while a real server process holds the data folder's
 * store: the mint is audited and listed on `/admin/tokens`, where revoking
 * it ends the token; with a store in memory it says it recorded nothing.
 */
import assert from "node:assert/strict";
import { Auth } from "../../lib/server/auth.ts";
import type { AuditEntry } from "../../lib/server/audit.ts";
import { ROOT, TestClient, waitRaw } from "../helpers.ts";
import { FAULT_SECRET, ServerProcess } from "./server_process.ts";

async function tokenCli(args: string[], env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}token.ts`, ...args],
    cwd: ROOT,
    stdin: "null",
    env: { FLIGHTDECK_SECRET: FAULT_SECRET, ...env },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    jwt: decoder.decode(output.stdout).trimEnd().split("\n").at(-1) ?? "",
    stderr: decoder.decode(output.stderr),
  };
}

/** The `connection:ack` user of a dashboard socket opened with `jwt`, or its error. */
async function signInAs(server: ServerProcess, jwt: string) {
  const client = new TestClient(`${server.wsUrl}/ws/dashboard`, {
    authorization: `Bearer ${jwt}`,
  });
  try {
    const reply = await waitRaw(
      client,
      (m) => m.type === "connection:ack" || m.type === "error",
    ).catch(() => null);
    if (reply?.type === "connection:ack") return reply.payload.user;
    await client.waitClosed();
    return { closed: client.closed?.code };
  } finally {
    await client.close();
  }
}

Deno.test("deno task token records the mint in a running server's store: audited, listed on /admin/tokens, revocable there", async () => {
  await using server = await ServerProcess.start();
  const admin = await new Auth(FAULT_SECRET).sign({
    role: "admin",
    subject: "carol",
  });
  const made = await tokenCli(["--role", "operator", "--user", "alice"], {
    FLIGHTDECK_DATA: server.dataDir,
    FLIGHTDECK_ADMIN_USER: "shell-admin",
  });
  assert.equal(made.code, 0, made.stderr);
  const id =
    /Recorded in the audit trail and listed on \/admin\/tokens \(id ([0-9a-f-]{36}), store /
      .exec(made.stderr)?.[1];
  assert.ok(id, made.stderr);

  const audit = await fetch(`${server.url}/api/audit?action=token.mint`, {
    headers: { authorization: `Bearer ${admin}` },
  });
  assert.equal(audit.status, 200);
  const entries: AuditEntry[] = (await audit.json()).entries;
  assert.equal(entries.length, 1);
  const { id: _id, time: _time, ...entry } = entries[0];
  const expiresAt = entry.detail?.expiresAt;
  assert.equal(typeof expiresAt, "number");
  assert.deepEqual(entry, {
    actor: "shell-admin",
    role: "admin",
    address: null,
    connectionId: null,
    action: "token.mint",
    target: { tokenId: id, user: "alice" },
    outcome: "ok",
    detail: { role: "operator", expiresAt, via: "cli" },
  });

  const page = await fetch(`${server.url}/admin/tokens`, {
    headers: { authorization: `Bearer ${admin}` },
  });
  assert.equal(page.status, 200);
  const html = await page.text();
  const row = new RegExp(`<tr[^>]*data-token-id="${id}"[^>]*>(.*?)</tr>`, "s")
    .exec(html)?.[1];
  assert.ok(row, "the CLI's token is listed");
  assert.match(row, />alice</);
  assert.match(row, />shell-admin</);

  assert.deepEqual(await signInAs(server, made.jwt), {
    id: "alice",
    role: "operator",
  });
  const revoke = await fetch(`${server.url}/admin/tokens`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${admin}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ action: "revoke", id }).toString(),
  });
  await revoke.body?.cancel();
  assert.equal(revoke.status, 200);
  assert.deepEqual(await signInAs(server, made.jwt), { closed: 4401 });
});

Deno.test("deno task token says it recorded nothing when the store is in memory", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "flightdeck-mint-" });
  try {
    const made = await tokenCli(["--role", "viewer", "--user", "vic"], {
      FLIGHTDECK_DATA: dataDir,
      FLIGHTDECK_KV: ":memory:",
    });
    assert.equal(made.code, 0, made.stderr);
    assert.match(
      made.stderr,
      /Not recorded in the audit trail nor listed on \/admin\/tokens: the server's store is in memory/,
    );
    const principal = await new Auth(FAULT_SECRET).verify(made.jwt);
    assert.equal(principal.id, "vic");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
