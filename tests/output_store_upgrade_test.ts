/**
 * Switching where output is stored on the same data folder: a server with
 * FLIGHTDECK_OUTPUT_STORE=kv stores output in the KV file as older versions
 * did (the same keys); after a restart on the default (output in files),
 * that output replays and downloads exactly, a command that was running
 * across the restart carries on in KV, and new commands store in files.
 * Then back to kv: what is in files stays readable.
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  outputOf,
  queueCommand,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

async function replay(server: TestServer, commandId: string): Promise<string> {
  const client = await TestClient.dashboard(server, "viewer");
  try {
    const from = client.messages.length;
    client.send("terminal:resume", { commandId, afterSeq: 0 });
    // The replay ends with the last stored chunk; an empty sentinel: an
    // earlier page, answered after it.
    client.send("terminal:earlier", { commandId, beforeSeq: 1 });
    await client.waitFor(
      (m) => m.type === "terminal:earlier" && m.payload.commandId === commandId,
      {
        from,
      },
    );
    assert.deepEqual(
      client.messages.slice(from).filter((m) => m.type === "terminal:gap"),
      [],
    );
    return outputOf(client, commandId).text;
  } finally {
    await client.close();
  }
}

async function raw(server: TestServer, commandId: string): Promise<string> {
  const res = await fetch(
    `${server.url}/api/commands/${commandId}/recording?format=raw`,
    {
      headers: {
        authorization: `Bearer ${await server.token("viewer")}`,
      },
    },
  );
  assert.equal(res.status, 200);
  return await res.text();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("output stored in KV (FLIGHTDECK_OUTPUT_STORE=kv, as older versions) stays readable on the file default; a command running across the switch carries on; back to kv, files stay readable", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "fd-output-switch-" });
  const servers: TestServer[] = [];
  let agent: AgentProcess | null = null;
  const clients: TestClient[] = [];
  try {
    const old = await startTestServer({ dataDir, outputStore: "kv" });
    servers.push(old);
    const port = Number(new URL(old.url).port);
    agent = await AgentProcess.start(old, "sw-1");
    const d1 = await TestClient.dashboard(old);
    clients.push(d1);
    await waitAgentStatus(d1, "sw-1", "online");
    const done = await queueCommand(d1, {
      agentId: "sw-1",
      command: "seq 1 20000",
    });
    assert.equal((await waitFinal(d1, done)).status, "completed");
    const expectedDone = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`)
      .join("");
    assert.equal(outputOf(d1, done).text, expectedDone);
    const running = await queueCommand(d1, {
      agentId: "sw-1",
      command: "echo before; sleep 3; echo after",
    });
    await d1.until(() => outputOf(d1, running).text === "before\n", {
      what: "the running command's first line",
    });
    assert.equal(await exists(`${dataDir}/output`), false);
    await d1.close();
    await old.shutdown();

    // The upgrade: the default stores new output in files.
    const upgraded = await startTestServer({ port, dataDir });
    servers.push(upgraded);
    const d2 = await TestClient.dashboard(upgraded);
    clients.push(d2);
    assert.equal((await waitFinal(d2, running, 30_000)).status, "completed");
    assert.equal(await replay(upgraded, done), expectedDone);
    assert.equal(await raw(upgraded, done), expectedDone);
    assert.equal(await replay(upgraded, running), "before\nafter\n");
    assert.equal(await exists(`${dataDir}/output/${running}`), false);
    const fresh = await queueCommand(d2, {
      agentId: "sw-1",
      command: "seq 5 9",
    });
    assert.equal((await waitFinal(d2, fresh)).status, "completed");
    assert.equal(await replay(upgraded, fresh), "5\n6\n7\n8\n9\n");
    assert.ok((await Deno.stat(`${dataDir}/output/${fresh}/1.seg`)).size > 0);
    await d2.close();
    await upgraded.shutdown();

    // And back: everything stays readable.
    const back = await startTestServer({ port, dataDir, outputStore: "kv" });
    servers.push(back);
    assert.equal(await replay(back, fresh), "5\n6\n7\n8\n9\n");
    assert.equal(await raw(back, fresh), "5\n6\n7\n8\n9\n");
    assert.equal(await replay(back, done), expectedDone);
  } finally {
    for (const client of clients) await client.close().catch(() => {});
    await agent?.kill();
    for (const server of servers) await server.shutdown().catch(() => {});
    await Deno.remove(dataDir, { recursive: true });
  }
});
