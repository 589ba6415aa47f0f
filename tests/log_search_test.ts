/**
 * Search across commands and retention of the log indexes, through a real
 * server and a real agent.
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  queueCommand,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";
import { enforceRetention } from "../lib/server/retention.ts";
import { RedisServer } from "./redis_server.ts";

async function getJson(server: TestServer, path: string) {
  const res = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${await server.token("viewer")}` },
  });
  return { status: res.status, body: await res.json() };
}

async function countKeys(server: TestServer, prefix: Deno.KvKey) {
  let n = 0;
  for await (const _ of server.services.storage.kv.list({ prefix })) n++;
  return n;
}

/**
 * The search test on `redisUrl` (cluster mode: the indexes in the shared
 * RedisKv) or, without it, on Deno KV.
 */
async function searchAndRetention(redisUrl?: string) {
  // The index is filled by this test's catchUp() calls only.
  await using server = await startTestServer({
    searchIndexIntervalMs: 86400_000,
    ...(redisUrl ? { redisUrl } : {}),
  });
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "srch-1");
  try {
    await waitAgentStatus(dash, "srch-1", "online");
    const a = await queueCommand(dash, {
      agentId: "srch-1",
      command:
        "seq 1 500; printf '\\033[31mZebraQuartz-77\\033[0m found\\n'; seq 1 5",
    });
    assert.equal((await waitFinal(dash, a)).status, "completed");
    const b = await queueCommand(dash, {
      agentId: "srch-1",
      command: "echo nothing special; echo zebra",
    });
    assert.equal((await waitFinal(dash, b)).status, "completed");
    assert.equal(await server.services.search.catchUp(), 2);

    const found = await getJson(server, "/api/search?q=zebraquartz-77");
    assert.equal(found.status, 200);
    assert.deepEqual(found.body.hits, [{
      commandId: a,
      agentId: "srch-1",
      command:
        "seq 1 500; printf '\\033[31mZebraQuartz-77\\033[0m found\\n'; seq 1 5",
      line: 501,
      text: "ZebraQuartz-77 found",
      exact: true,
      url: `/agents/srch-1/commands/${a}#L501`,
    }]);
    // The linked line is that line.
    const line = await getJson(
      server,
      `/api/commands/${a}/lines?from=501&count=1`,
    );
    assert.deepEqual(line.body.lines, [{
      n: 501,
      text: "\x1b[31mZebraQuartz-77\x1b[0m found",
    }]);
    // A word of the command text: line 0.
    const text = await getJson(server, "/api/search?q=special");
    assert.deepEqual(
      text.body.hits.map((
        h: { commandId: string; line: number },
      ) => [h.commandId, h.line]),
      [[b, 0]],
    );
    // The search page links to the line.
    const page = await fetch(`${server.url}/search?q=ZebraQuartz`, {
      headers: { authorization: `Bearer ${await server.token("viewer")}` },
    });
    assert.equal(page.status, 200);
    assert.ok(
      (await page.text()).includes(`href="/agents/srch-1/commands/${a}#L501"`),
    );

    const bad = await getJson(server, "/api/search?q=a%20b");
    assert.equal(bad.status, 400);
    assert.equal(
      bad.body.error.message,
      'Query "a b" has no word of 3 or more letters or digits',
    );
    const long = await getJson(server, `/api/search?q=${"x".repeat(201)}`);
    assert.equal(long.status, 400);
    assert.equal(
      long.body.error.message,
      "Query too long: 201 characters, at most 200",
    );

    assert.ok(await countKeys(server, ["out_line", a]) > 0);
    assert.ok(await countKeys(server, ["sx_cmd", a]) > 0);
    // Retention over the byte limit trims every finished command's output.
    const result = await enforceRetention(server.services.storage, {
      maxAgeMs: 86400_000,
      maxBytes: 0,
    });
    assert.equal(result.trimmedCommands, 2);
    for (const id of [a, b]) {
      assert.equal(await countKeys(server, ["out_line", id]), 0);
      assert.equal(await countKeys(server, ["sx_cmd", id]), 0);
    }
    assert.equal(await countKeys(server, ["sx"]), 0);
    assert.deepEqual(
      (await getJson(server, "/api/search?q=zebraquartz")).body.hits,
      [],
    );
    const gone = await getJson(server, `/api/commands/${a}/lines`);
    assert.equal(gone.body.lastLine, 0);
    assert.deepEqual(gone.body.lines, []);
    const stored = await server.services.storage.getCommand(a);
    assert.deepEqual(gone.body.removed, { fromSeq: 1, toSeq: stored!.lastSeq });
  } finally {
    await agent.kill();
    await dash.close();
  }
}

Deno.test("search: a word in another command's output is found with its line, and retention removes the indexes with the output", async () => {
  await searchAndRetention();
});

Deno.test({
  name:
    "search (Redis): a word in another command's output is found with its line, and retention removes the indexes with the output",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start();
    try {
      await searchAndRetention(redis.url);
    } finally {
      await redis.close();
    }
  },
});
