/**
 * Two real server processes sharing one real Redis (cluster mode, no
 * FLIGHTDECK_SECRET): what one node stores the other sees. Sign-in codes,
 * browser sessions and their renewal, revocation, minted tokens, the audit
 * trail, a command's log (lines, search in it, the page) and `/search`.
 */
import assert from "node:assert/strict";
import { Auth } from "../lib/server/auth.ts";
import type { Role } from "../lib/protocol.ts";
import {
  AgentProcess,
  outputOf,
  queueCommand,
  ROOT,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";
import { RedisServer } from "./redis_server.ts";
import { ServerProcess } from "./faults/server_process.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { cookieOf, postLogin, postLogout } from "./session_helpers.ts";
import { connectRedis } from "../lib/server/redis_storage.ts";

const WARNING = "FLIGHTDECK_SECRET is not set";

function get(url: string, headers: Record<string, string>) {
  return fetch(url, { headers, redirect: "manual" });
}

async function status(url: string, headers: Record<string, string>) {
  const response = await get(url, headers);
  await response.body?.cancel();
  return response.status;
}

function adminForm(
  server: ServerProcess,
  token: string,
  form: Record<string, string>,
) {
  return fetch(`${server.url}/admin/tokens`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(form).toString(),
  });
}

Deno.test({
  name:
    "cluster: two server processes on one Redis share sign-ins, codes, revocation, tokens, audit, logs and search",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using redis = {
      server: await RedisServer.start(),
      async [Symbol.asyncDispose]() {
        await this.server.close();
      },
    };
    const env = {
      FLIGHTDECK_REDIS_URL: redis.server.url,
      // No secret: the nodes agree on one kept in Redis.
      FLIGHTDECK_SECRET: "",
      FLIGHTDECK_SEARCH_INDEX_INTERVAL_MS: "200",
      FLIGHTDECK_REVOCATION_CHECK_MS: "200",
      // The user of the printed sign-in link.
      FLIGHTDECK_ADMIN_USER: "admin",
    };
    await using a = await ServerProcess.start({ env });
    await using b = await ServerProcess.start({ env });
    const client = connectRedis(redis.server.url);
    let auth: Auth;
    const sign = (role: Role, subject?: string, agentId?: string) =>
      auth.sign({ role, subject, agentId, sessionId: crypto.randomUUID() });
    try {
      await t.step(
        "the secret: generated once in Redis, used by both, with a warning",
        async () => {
          const secret = await client.get("fd:secret");
          assert.ok(secret && secret.length >= 64, String(secret));
          auth = new Auth(secret);
          for (const node of [a, b]) {
            assert.ok(node.stderr.includes(WARNING), node.stderr);
            // A token signed with it works on each.
            const token = await sign("viewer");
            assert.equal(
              await status(`${node.url}/api/agents`, {
                authorization: `Bearer ${token}`,
              }),
              200,
            );
          }
        },
      );

      await t.step(
        "a sign-in link printed by A works through B, once",
        async () => {
          const code = /\/login\?code=([0-9a-f]+)/.exec(a.log)?.[1];
          assert.ok(code, a.log);
          const first = await get(`${b.url}/login?code=${code}`, {});
          await first.body?.cancel();
          assert.equal(first.status, 303);
          const cookie = cookieOf(first);
          assert.ok(cookie);
          // Its session is good on both.
          for (const node of [a, b]) {
            assert.equal(
              await status(`${node.url}/api/agents`, { cookie }),
              200,
            );
          }
          for (const node of [b, a]) {
            const again = await get(`${node.url}/login?code=${code}`, {});
            assert.equal(again.status, 401);
            assert.match(await again.text(), /already used or has expired/);
          }
        },
      );

      await t.step(
        "signed in on A: renewed on B, dashboard on B, signed out on B refuses on A",
        async () => {
          const pasted = await sign("operator", "alice");
          const login = await postLogin(a, pasted);
          await login.body?.cancel();
          assert.equal(login.status, 303);
          const first = cookieOf(login)!;
          const refresh = await fetch(`${b.url}/api/session/refresh`, {
            method: "POST",
            headers: { cookie: first },
          });
          assert.equal(refresh.status, 200);
          const { expiresAt } = await refresh.json();
          assert.ok(expiresAt > Date.now());
          // The same session, renewed (within one second the token can be
          // the same).
          const renewed = cookieOf(refresh);
          assert.ok(renewed);
          const dashboard = new TestClient(`${b.wsUrl}/ws/dashboard`, {
            cookie: renewed,
          });
          try {
            await dashboard.waitFor((m) => m.type === "connection:ack");
            assert.deepEqual(dashboard.of("connection:ack")[0].user, {
              id: "alice",
              role: "operator",
            });
          } finally {
            await dashboard.close();
          }
          const logout = await postLogout(b, { cookie: renewed });
          await logout.body?.cancel();
          assert.equal(logout.status, 303);
          for (const cookie of [renewed, first]) {
            assert.equal(await status(`${a.url}/api/agents`, { cookie }), 401);
          }
          // The pasted token itself is still good.
          assert.equal(
            await status(`${a.url}/api/agents`, {
              authorization: `Bearer ${pasted}`,
            }),
            200,
          );
        },
      );

      await t.step(
        "revoked on A, refused on B: a pasted token and a minted one with its session",
        async () => {
          const pasted = await sign("viewer", "erin");
          const bearer = { authorization: `Bearer ${pasted}` };
          assert.equal(await status(`${b.url}/api/agents`, bearer), 200);
          const out = await postLogout(a, bearer);
          await out.body?.cancel();
          assert.equal(await status(`${b.url}/api/agents`, bearer), 401);

          // Minted on B, its link used on B, revoked on A.
          const admin = await sign("admin", "carol");
          const created = await adminForm(b, admin, {
            action: "create-user",
            user: "dave",
            role: "operator",
            ttl: "2h",
          });
          assert.equal(created.status, 201);
          const link = /data-testid="user-link">([^<]+)</.exec(
            await created.text(),
          )?.[1];
          assert.ok(link?.startsWith(`${b.url}/login?code=`));
          const signIn = await get(link!, {});
          await signIn.body?.cancel();
          assert.equal(signIn.status, 303);
          const cookie = cookieOf(signIn)!;
          assert.equal(await status(`${b.url}/api/agents`, { cookie }), 200);
          // A lists the token B minted.
          const page = await get(`${a.url}/admin/tokens`, {
            authorization: `Bearer ${admin}`,
          });
          const html = await page.text();
          const id = /<tr data-token-id="([^"]+)"><td>dave<\/td>/.exec(html)
            ?.[1];
          assert.ok(id, html);
          // Its dashboard open on B, and a pasted token's on B.
          const open = new TestClient(`${b.wsUrl}/ws/dashboard`, { cookie });
          const viewer = await sign("viewer", "fred");
          const other = new TestClient(`${b.wsUrl}/ws/dashboard`, {
            authorization: `Bearer ${viewer}`,
          });
          try {
            await open.waitFor((m) => m.type === "connection:ack");
            await other.waitFor((m) => m.type === "connection:ack");
            const revoked = await adminForm(a, admin, {
              action: "revoke",
              id,
            });
            await revoked.body?.cancel();
            assert.equal(revoked.status, 200);
            const out = await postLogout(a, {
              authorization: `Bearer ${viewer}`,
            });
            await out.body?.cancel();
            // B closes both (its revocation check), though A revoked them.
            assert.equal((await open.waitClosed()).code, 4401);
            assert.equal((await other.waitClosed()).code, 4401);
          } finally {
            await open.close();
            await other.close();
          }
          assert.equal(await status(`${b.url}/api/agents`, { cookie }), 401);
          const renew = await fetch(`${b.url}/api/session/refresh`, {
            method: "POST",
            headers: { cookie },
          });
          await renew.body?.cancel();
          assert.equal(renew.status, 401);
        },
      );

      await t.step(
        "deno task token in cluster mode signs with the shared secret and records the token where both nodes list it",
        async () => {
          const dataDir = await Deno.makeTempDir();
          try {
            const output = await new Deno.Command(Deno.execPath(), {
              args: [
                "run",
                "-A",
                `${ROOT}token.ts`,
                "--role",
                "viewer",
                "--user",
                "gina",
              ],
              cwd: ROOT,
              stdin: "null",
              env: {
                NO_PROXY: "127.0.0.1,localhost",
                FLIGHTDECK_SECRET: "",
                FLIGHTDECK_DATA: dataDir,
                FLIGHTDECK_REDIS_URL: redis.server.url,
              },
            }).output();
            const stderr = new TextDecoder().decode(output.stderr);
            assert.equal(output.code, 0, stderr);
            assert.match(
              stderr,
              /listed on \/admin\/tokens \(id [^,]+, store Redis redis:\/\/127\.0\.0\.1:/,
            );
            const token = new TextDecoder().decode(output.stdout).trim();
            const admin = {
              authorization: `Bearer ${await sign("admin", "carol")}`,
            };
            for (const node of [a, b]) {
              assert.equal(
                await status(`${node.url}/api/agents`, {
                  authorization: `Bearer ${token}`,
                }),
                200,
              );
              const page = await (await get(`${node.url}/admin/tokens`, admin))
                .text();
              assert.match(page, /<td>gina<\/td><td>viewer<\/td>/);
            }
            // No secret file was written: the secret is the shared one.
            assert.deepEqual(
              [...Deno.readDirSync(dataDir)].map((e) => e.name),
              [],
            );
          } finally {
            await Deno.remove(dataDir, { recursive: true });
          }
        },
      );

      await t.step(
        "/api/audit on either node shows both nodes' entries",
        async () => {
          const admin = { authorization: `Bearer ${await sign("admin")}` };
          // alice signed in on A, the code's admin and dave on B.
          let seen: string[] = [];
          for (const node of [a, b]) {
            await waitUntil(
              async () => {
                const response = await get(
                  `${node.url}/api/audit?action=auth.sign-in&limit=100`,
                  admin,
                );
                const body = await response.json();
                seen = body.entries.map((
                  e: { actor: string | null; outcome: string },
                ) => `${e.actor}:${e.outcome}`).sort();
                // The code's user (the admin's name) and the code used
                // again on each node, refused.
                return JSON.stringify(seen) === JSON.stringify([
                  "admin:ok",
                  "alice:ok",
                  "dave:ok",
                  "null:refused",
                  "null:refused",
                ]);
              },
              10_000,
              `sign-ins of both nodes in ${node.url}/api/audit`,
              () => JSON.stringify(seen),
            );
          }
          const response = await get(
            `${b.url}/api/audit?action=token.revoke`,
            admin,
          );
          const { entries } = await response.json();
          assert.deepEqual(
            entries.map((e: { actor: string }) => e.actor),
            ["carol"],
          );
        },
      );

      await t.step(
        "output stored via A: lines, search in it, its page and /search on B",
        async () => {
          const operator = await sign("operator", "olga");
          const dashboard = new TestClient(`${a.wsUrl}/ws/dashboard`, {
            authorization: `Bearer ${operator}`,
          });
          const agent = new AgentProcess([
            "--server",
            a.url,
            "--token",
            await sign("agent", undefined, "shared-1"),
            "--name",
            "shared-1",
          ]);
          try {
            await dashboard.waitFor((m) => m.type === "agent:list");
            await waitAgentStatus(dashboard, "shared-1", "online");
            const command =
              "seq 1 3000; printf 'Pelican''Marble-42 here\\n'; seq 1 5";
            const id = await queueCommand(dashboard, {
              agentId: "shared-1",
              command,
            });
            assert.equal((await waitFinal(dashboard, id)).status, "completed");
            assert.ok(
              outputOf(dashboard, id).text.includes("PelicanMarble-42"),
            );
            const viewer = { authorization: `Bearer ${await sign("viewer")}` };
            const lines = await (await get(
              `${b.url}/api/commands/${id}/lines?from=3001&count=2`,
              viewer,
            )).json();
            assert.equal(lines.lastLine, 3006);
            assert.deepEqual(lines.lines, [
              { n: 3001, text: "PelicanMarble-42 here" },
              { n: 3002, text: "1" },
            ]);
            const inLog = await (await get(
              `${b.url}/api/commands/${id}/search?q=PelicanMarble`,
              viewer,
            )).json();
            assert.deepEqual(
              inLog.hits.map((m: { line: number }) => m.line),
              [3001],
            );
            const page = await get(
              `${b.url}/agents/shared-1/commands/${id}`,
              viewer,
            );
            assert.equal(page.status, 200);
            // Rendered with its first lines.
            assert.match(await page.text(), /data-line="1"/);
            // Indexed by one of the nodes; found through B.
            const hits = await waitUntil(
              async () => {
                const body = await (await get(
                  `${b.url}/api/search?q=pelicanmarble`,
                  viewer,
                )).json();
                return body.hits?.length ? body.hits : null;
              },
              15_000,
              "the command in B's /api/search",
            );
            assert.deepEqual(
              hits.map((h: { commandId: string; line: number }) => [
                h.commandId,
                h.line,
              ]),
              [[id, 3001]],
            );
            const search = await get(`${b.url}/search?q=PelicanMarble`, viewer);
            assert.ok(
              (await search.text()).includes(
                `href="/agents/shared-1/commands/${id}#L3001"`,
              ),
            );

            // While a command runs on A, B's window of its log is exact:
            // the line index is written with the output.
            const dir = await Deno.makeTempDir();
            try {
              const running = await queueCommand(dashboard, {
                agentId: "shared-1",
                command:
                  `seq 1 100; while [ ! -e ${dir}/go ]; do sleep 0.05; done; echo after`,
              });
              const window = await waitUntil(
                async () => {
                  const body = await (await get(
                    `${b.url}/api/commands/${running}/lines?from=99&count=5`,
                    viewer,
                  )).json();
                  return body.lastLine === 100 ? body : null;
                },
                15_000,
                "100 lines of the running command on B",
              );
              assert.deepEqual(window.lines, [
                { n: 99, text: "99" },
                { n: 100, text: "100" },
              ]);
              await Deno.writeTextFile(`${dir}/go`, "");
              assert.equal(
                (await waitFinal(dashboard, running)).status,
                "completed",
              );
            } finally {
              await Deno.remove(dir, { recursive: true });
            }
          } finally {
            await agent.kill();
            await dashboard.close();
          }
        },
      );
    } finally {
      client.disconnect();
    }
  },
});
