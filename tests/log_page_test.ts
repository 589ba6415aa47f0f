/**
 * Command logs through a real server and a real agent: a 200,000-line
 * command read by line window, searched server-side, downloaded raw and as
 * text byte-exact, its page rendered, and bad input refused.
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

const LINES = 200_000;
/** Line 150,000 holds the needle; every other line is `line N`. */
const COMMAND =
  `awk 'BEGIN { for (i = 1; i <= ${LINES}; i++) { if (i == 150000) print "NEEDLE-x here " i; else print "line " i } }'`;

function expectedOutput(): string {
  const lines: string[] = [];
  for (let i = 1; i <= LINES; i++) {
    lines.push(i === 150000 ? `NEEDLE-x here ${i}` : `line ${i}`);
  }
  return lines.join("\n") + "\n";
}

async function get(server: TestServer, path: string, role = "viewer" as const) {
  return await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${await server.token(role)}` },
  });
}

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

Deno.test("log: a 200,000-line command reads by line, searches server-side and downloads byte-exact", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "log-1");
  try {
    await waitAgentStatus(dash, "log-1", "online");
    const id = await queueCommand(dash, { agentId: "log-1", command: COMMAND });
    const final = await waitFinal(dash, id, 60_000);
    assert.equal(final.status, "completed");
    const expected = expectedOutput();

    const window =
      await (await get(server, `/api/commands/${id}/lines?from=149999&count=3`))
        .json();
    assert.equal(window.firstLine, 1);
    assert.equal(window.lastLine, LINES);
    assert.equal(window.removed, null);
    assert.deepEqual(window.lines, [
      { n: 149999, text: "line 149999" },
      { n: 150000, text: "NEEDLE-x here 150000" },
      { n: 150001, text: "line 150001" },
    ]);
    assert.deepEqual(window.gaps, []);
    const end = await (await get(
      server,
      `/api/commands/${id}/lines?from=${LINES}&count=10`,
    )).json();
    assert.deepEqual(end.lines, [{ n: LINES, text: `line ${LINES}` }]);

    const search =
      await (await get(server, `/api/commands/${id}/search?q=needle-X`)).json();
    assert.deepEqual(search, {
      id,
      q: "needle-X",
      hits: [{ line: 150000, text: "NEEDLE-x here 150000" }],
      next: null,
    });
    const many = await (await get(
      server,
      `/api/commands/${id}/search?q=line%2019999&limit=3&from=5`,
    )).json();
    assert.deepEqual(many.hits.map((h: { line: number }) => h.line), [
      19999,
      199990,
      199991,
    ]);
    assert.equal(many.next, 199992);

    const raw = new Uint8Array(
      await (await get(server, `/api/commands/${id}/recording?format=raw`))
        .arrayBuffer(),
    );
    assert.equal(
      await sha256(raw),
      await sha256(new TextEncoder().encode(expected)),
    );
    const txt = await get(server, `/api/commands/${id}/recording?format=txt`);
    assert.equal(await txt.text(), expected);

    const page = await get(server, `/agents/log-1/commands/${id}`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.ok(html.includes("line 200"), "the first block is in the page");
    assert.ok(html.includes(`/api/commands/${id}/recording?format=raw`));
    assert.equal(
      (await get(server, `/agents/other/commands/${id}`)).status,
      404,
    );
    await (await get(server, `/agents/other/commands/${id}`)).body?.cancel();
  } finally {
    await agent.kill();
    await dash.close();
  }
});

Deno.test("log: bad ranges and queries get 400 with a clear message; unknown commands 404", async () => {
  await using server = await startTestServer();
  const cases: [string, number, string][] = [
    [
      "/api/commands/x/lines?from=0",
      400,
      'Bad "from" "0": expected a whole number from 1 to 9007199254740991',
    ],
    [
      "/api/commands/x/lines?count=2001",
      400,
      'Bad "count" "2001": expected a whole number from 1 to 2000',
    ],
    [
      "/api/commands/x/lines?from=1e3",
      400,
      'Bad "from" "1e3": expected a whole number from 1 to 9007199254740991',
    ],
    ["/api/commands/x/search", 400, 'Missing "q": the text to search for'],
    [
      "/api/commands/x/search?q=%20",
      400,
      'Missing "q": the text to search for',
    ],
    [
      `/api/commands/x/search?q=${"a".repeat(201)}`,
      400,
      "Query too long: 201 characters, at most 200",
    ],
    [
      "/api/commands/x/search?q=a&limit=0",
      400,
      'Bad "limit" "0": expected a whole number from 1 to 500',
    ],
    ["/api/commands/x/lines", 404, 'Unknown command "x"'],
    ["/api/commands/x/search?q=a", 404, 'Unknown command "x"'],
  ];
  for (const [path, status, message] of cases) {
    const res = await get(server, path);
    assert.equal(res.status, status, path);
    assert.equal((await res.json()).error.message, message, path);
  }
  const anonymous = await fetch(`${server.url}/api/commands/x/lines`);
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
});
