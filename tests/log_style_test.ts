/**
 * The log page's lines through a real server: a color set above a window
 * carries into it (the window's `sgr`), and stderr lines are marked (`err`),
 * read from the stored chunks; the dashboard's fleet tail marks stderr
 * lines after a reload too.
 */
import assert from "node:assert/strict";
import {
  queueCommand,
  RawAgent,
  startTestServer,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

async function get(server: TestServer, path: string) {
  const response = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${await server.token("viewer")}` },
  });
  assert.equal(response.status, 200, path);
  return response;
}

/** Run a command on raw agent `agent` whose output is `chunks`, in order. */
async function runChunks(
  dash: TestClient,
  agent: RawAgent,
  chunks: { stream: "stdout" | "stderr"; data: string }[],
): Promise<string> {
  const id = await queueCommand(dash, {
    agentId: agent.id,
    command: "fake output",
  });
  await agent.waitFor((m) =>
    m.type === "command:execute" &&
    (m.payload.command as { id: string }).id === id
  );
  agent.send("command:started", { commandId: id, startedAt: Date.now() });
  chunks.forEach((chunk, i) =>
    agent.send("terminal:output", { commandId: id, seq: i + 1, ...chunk })
  );
  agent.send("command:completed", {
    commandId: id,
    exitCode: 0,
    status: "completed",
    completedAt: Date.now(),
    lastSeq: chunks.length,
  });
  assert.equal((await waitFinal(dash, id)).status, "completed");
  return id;
}

const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join(
    "",
  );

Deno.test("log lines: a color set above the window carries into it; stderr lines are marked", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  await using agent = await RawAgent.connect(server, "style-1");
  await waitAgentStatus(dash, "style-1", "online");
  const id = await runChunks(dash, agent, [
    // Bold red from line 1 on, through line 300; a 256-color background
    // from line 150.
    { stream: "stdout", data: "\x1b[1;31m" + numbered(1, 149) },
    { stream: "stdout", data: "\x1b[48;5;17m" + numbered(150, 300) },
    { stream: "stdout", data: "\x1b[0m" + numbered(301, 400) },
    { stream: "stderr", data: "oops 401\n" },
    { stream: "stdout", data: "mixed " },
    { stream: "stderr", data: "err 402\n" },
    { stream: "stdout", data: "line 403\n" },
  ]);

  const at = async (from: number, count: number) =>
    await (await get(
      server,
      `/api/commands/${id}/lines?from=${from}&count=${count}`,
    )).json();
  const first = await at(1, 2);
  assert.equal(first.sgr, "");
  assert.equal(first.sgrExact, true);
  const mid = await at(120, 2);
  assert.deepEqual(
    [mid.sgr, mid.sgrExact, mid.lines],
    ["1;31", true, [{ n: 120, text: "line 120" }, {
      n: 121,
      text: "line 121",
    }]],
  );
  const late = await at(201, 1);
  assert.deepEqual(
    [late.sgr, late.sgrExact],
    ["1;31;48;2;0;0;95", true],
  );
  const reset = await at(302, 1);
  assert.equal(reset.sgr, "");
  const tail = await at(400, 10);
  assert.deepEqual(tail.lines, [
    { n: 400, text: "line 400" },
    { n: 401, text: "oops 401", err: true },
    { n: 402, text: "mixed err 402", err: true },
    { n: 403, text: "line 403" },
  ]);

  // The log page's first block carries the same fields.
  const page = await (await get(server, `/agents/style-1/commands/${id}`))
    .text();
  assert.match(page, /"sgr":""/);
});

Deno.test("fleet tail: stderr lines of the latest command are marked after a reload", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  await using agent = await RawAgent.connect(server, "tail-1");
  await waitAgentStatus(dash, "tail-1", "online");
  await runChunks(dash, agent, [
    { stream: "stdout", data: "building\n" },
    { stream: "stderr", data: "error: it broke\n" },
    { stream: "stdout", data: "done\n" },
  ]);
  const html = await (await get(server, "/")).text();
  const card = /data-testid="fleet-card-tail-1"[\s\S]*?<\/li>/.exec(html)
    ?.[0];
  assert.ok(card, "the agent's card is rendered");
  const lines = [...card.matchAll(/<span( class="tail-err")?>([^<]*)<\/span>/g)]
    .map((m) => [m[2].trim(), m[1] !== undefined]);
  assert.deepEqual(
    lines.filter(([text]) =>
      ["building", "error: it broke", "done"].includes(String(text))
    ),
    [["building", false], ["error: it broke", true], ["done", false]],
  );
});
