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
import type { StoredCommand } from "../lib/server/storage.ts";

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
    // An id longer than any key Deno KV reads is no command, not a 500.
    [
      `/api/commands/${"x".repeat(3000)}/lines`,
      404,
      `Unknown command "${"x".repeat(3000)}"`,
    ],
  ];
  for (const [path, status, message] of cases) {
    const res = await get(server, path);
    assert.equal(res.status, status, path);
    assert.equal((await res.json()).error.message, message, path);
  }
  for (
    const path of [
      `/commands/${"x".repeat(3000)}`,
      `/agents/a/commands/${"x".repeat(3000)}`,
    ]
  ) {
    const res = await get(server, path);
    assert.equal(res.status, 404, path.slice(0, 30));
    await res.body?.cancel();
  }
  const anonymous = await fetch(`${server.url}/api/commands/x/lines`);
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
});

Deno.test("log: output stored without the line index is indexed on first open; a prompt reads its turn of its session's lines", async () => {
  await using server = await startTestServer();
  const base = {
    agentId: "a1",
    priority: "normal" as const,
    status: "completed" as const,
    requestedBy: "u",
    requestedAt: 1000,
    startedAt: 1000,
    completedAt: 2000,
    exitCode: 0,
  };
  const stored = (info: StoredCommand["info"]): StoredCommand => ({
    info,
    order: info.requestedAt,
    dispatched: false,
    interruptReason: null,
    timeoutMs: null,
  });
  await server.services.storage.importFinished([
    stored({ ...base, id: "old-1", command: "run", outputBytes: 12 }),
    stored({
      ...base,
      id: "prompt-2",
      command: "ask",
      outputBytes: 0,
      kind: "prompt",
      session: { commandId: "old-1", fromSeq: 2, toSeq: 2 },
    }),
  ]);
  // As an older version stored it: chunks without line index entries.
  for (
    const [seq, data] of [[1, "a\nb\n"], [2, "c\nd\n"], [3, "e\n"]] as const
  ) {
    await server.services.storage.output.write("old-1", seq, {
      stream: "stdout",
      data,
    });
  }
  const lines = async (id: string) =>
    await (await get(server, `/api/commands/${id}/lines`)).json();
  const whole = await lines("old-1");
  assert.deepEqual(
    [
      whole.firstLine,
      whole.lastLine,
      whole.lines.map((l: { text: string }) => l.text),
    ],
    [1, 5, ["a", "b", "c", "d", "e"]],
  );
  const turn = await lines("prompt-2");
  assert.deepEqual(
    [turn.sourceId, turn.firstLine, turn.lastLine, turn.lines],
    ["old-1", 3, 4, [{ n: 3, text: "c" }, { n: 4, text: "d" }]],
  );
  const search = async (q: string) =>
    (await (await get(server, `/api/commands/prompt-2/search?q=${q}`)).json())
      .hits;
  assert.deepEqual(await search("d"), [{ line: 4, text: "d" }]);
  assert.deepEqual(await search("e"), []);
  const page = await get(server, "/agents/a1/commands/prompt-2");
  assert.equal(page.status, 200);
  assert.ok((await page.text()).includes("ask"));
});

Deno.test("log: lines whose output the per-command cap dropped read as not stored, the rest keep their numbers", async () => {
  await using server = await startTestServer({ maxCommandOutputBytes: 2048 });
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "log-cap");
  try {
    await waitAgentStatus(dash, "log-cap", "online");
    const id = await queueCommand(dash, {
      agentId: "log-cap",
      command:
        "for i in 1 2 3 4 5 6; do head -c 1000 /dev/zero | tr '\\0' $i; echo; sleep 0.2; done",
    });
    await waitFinal(dash, id);
    const body = await (await get(server, `/api/commands/${id}/lines`)).json();
    assert.equal(body.lastLine, 6);
    const texts: (string | null)[] = body.lines.map((
      l: { text: string | null },
    ) => l.text);
    assert.deepEqual(body.lines.map((l: { n: number }) => l.n), [
      1,
      2,
      3,
      4,
      5,
      6,
    ]);
    const kept = texts.findIndex((t) => t !== null);
    assert.ok(kept > 0, `the oldest lines are gone: ${kept}`);
    assert.deepEqual(texts.slice(0, kept), Array(kept).fill(null));
    for (let i = kept; i < 6; i++) {
      assert.equal(texts[i], String(i + 1).repeat(1000), `line ${i + 1}`);
    }
  } finally {
    await agent.kill();
    await dash.close();
  }
});
