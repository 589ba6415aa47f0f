/**
 * A real prompt's recording: a session agent (`--type claude --session --
 * <fake CLI>`) behind a real server takes two prompts; the second prompt's
 * `.cast` and `.txt` (`GET /api/commands/:id/recording`) hold exactly its
 * turn's slice of the session's stored output (seqs `fromSeq..toSeq`),
 * nothing of the first turn, with times from the slice's start.
 */
import assert from "node:assert/strict";
import {
  queueCommand,
  startTestServer,
  TestClient,
  type TestServer,
  waitFinal,
} from "./helpers.ts";
import { startSessionAgent, waitSession } from "./session_agent.ts";
import { plainText } from "../lib/server/plain_text.ts";

async function download(server: TestServer, path: string): Promise<Response> {
  return await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${await server.token("viewer")}` },
  });
}

Deno.test("recording: the second of two real prompts to a session downloads as exactly its turn's slice, as .cast and .txt", async () => {
  await using server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-rec-prompt-" });
  const dash = await TestClient.dashboard(server);
  const agent = await startSessionAgent(server, "recp-1", {
    cwd,
    cols: 90,
    rows: 25,
    cliFlags: ["--work-ms", "300"],
  });
  try {
    const session = await waitSession(dash, "recp-1");
    const first = await queueCommand(dash, {
      agentId: "recp-1",
      command: "first-prompt",
    });
    const second = await queueCommand(dash, {
      agentId: "recp-1",
      command: "second-prompt",
    });
    const one = await waitFinal(dash, first);
    const two = await waitFinal(dash, second);
    assert.deepEqual([one.status, two.status], ["completed", "completed"]);
    const turn = two.session!;
    assert.equal(turn.commandId, session.id);
    assert.ok(turn.fromSeq > one.session!.toSeq!, "turns do not overlap");
    assert.ok(turn.toSeq! >= turn.fromSeq, "the turn printed something");

    const stored = [];
    for await (const c of server.services.commands.readOutput(session.id, 0)) {
      stored.push(c);
    }
    const slice = stored.filter((c) =>
      c.seq >= turn.fromSeq && c.seq <= turn.toSeq!
    );
    assert.equal(slice.length, turn.toSeq! - turn.fromSeq + 1);
    const sliceText = slice.map((c) => c.data).join("");
    assert.match(sliceText, /Done: second-prompt/);
    assert.doesNotMatch(sliceText, /Done: first-prompt/);

    const castResponse = await download(
      server,
      `/api/commands/${second}/recording?format=cast`,
    );
    assert.equal(castResponse.status, 200);
    assert.equal(
      castResponse.headers.get("content-disposition"),
      `attachment; filename="recp-1-${second}.cast"`,
    );
    const lines = (await castResponse.text()).replace(/\n$/, "").split("\n");
    const header = JSON.parse(lines[0]);
    assert.deepEqual(header, {
      version: 2,
      width: 90,
      height: 25,
      timestamp: Math.floor(slice[0].at! / 1000),
      title: "recp-1: second-prompt",
      env: { TERM: "xterm-256color" },
    });
    // One output event per chunk of the turn, its data exactly, at its
    // receive time from the turn's first chunk.
    assert.deepEqual(
      lines.slice(1).map((line) => JSON.parse(line)),
      slice.map((c) => [(c.at! - slice[0].at!) / 1000, "o", c.data]),
    );

    const txtResponse = await download(
      server,
      `/api/commands/${second}/recording?format=txt`,
    );
    assert.equal(txtResponse.status, 200);
    const txt = await txtResponse.text();
    // The turn's output, ANSI stripped (plain_text_test.ts tests the
    // stripping itself): exactly the slice, nothing before or after it.
    assert.equal(txt, plainText(sliceText));
    assert.match(txt, /Done: second-prompt/);
    assert.doesNotMatch(txt, /first-prompt/);
    assert.ok(!txt.includes("\x1b"), "no escape sequence left");
  } finally {
    await agent.kill();
    await dash.close();
    await Deno.remove(cwd, { recursive: true });
  }
});
