/**
 * The audit trail survives a SIGKILL of a real server process, and the
 * start-up sign-in link signs in the named admin (FLIGHTDECK_ADMIN_USER).
 */
import assert from "node:assert/strict";
import { Auth } from "../../lib/server/auth.ts";
import type { AuditEntry } from "../../lib/server/audit.ts";
import { FAULT_SECRET, ServerProcess } from "./server_process.ts";

async function entries(
  server: ServerProcess,
  token: string,
): Promise<AuditEntry[]> {
  const response = await fetch(`${server.url}/api/audit`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
  return (await response.json()).entries;
}

Deno.test("The audit trail survives a server SIGKILL and restart; the start-up link signs in the named admin", async () => {
  await using server = await ServerProcess.start({
    env: { FLIGHTDECK_ADMIN_USER: "root-admin" },
  });
  const link = /one-time sign-in link, admin "root-admin"\): (\S+)/.exec(
    server.log,
  );
  assert.ok(link, server.log);
  const signIn = await fetch(link[1], { redirect: "manual" });
  await signIn.body?.cancel();
  assert.equal(signIn.status, 303);
  const failed = await fetch(`${server.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "token=forged&next=%2F",
  });
  await failed.body?.cancel();
  assert.equal(failed.status, 401);
  const admin = await new Auth(FAULT_SECRET).sign({
    role: "admin",
    subject: "carol",
  });
  // Both were recorded before their answers were sent; the writes commit
  // in the background, so read until both are there.
  let before: AuditEntry[] = [];
  for (let i = 0; i < 100 && before.length < 2; i++) {
    before = await entries(server, admin);
  }
  assert.deepEqual(
    before.map((e) => [e.actor, e.role, e.address, e.action, e.outcome]),
    [
      [null, null, "127.0.0.1", "auth.sign-in", "refused"],
      ["root-admin", "admin", "127.0.0.1", "auth.sign-in", "ok"],
    ],
  );
  await server.kill("SIGKILL");
  await server.restart();
  assert.deepEqual(await entries(server, admin), before);
});
