/**
 * Recordings through a real server and real agents: `GET
 * /api/commands/:id/recording` as asciicast v2 and as plain text, seq
 * ranges and prompt slices, retention gaps, resizes, bad input, and
 * streaming.
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  outputOf,
  queueCommand,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";
import type { StoredCommand } from "../lib/server/storage.ts";

/** A parsed `.cast` file. */
interface Cast {
  header: Record<string, unknown>;
  events: [number, string, string][];
}

function parseCast(text: string): Cast {
  assert.ok(text.endsWith("\n"), "the file ends with a newline");
  const lines = text.slice(0, -1).split("\n");
  const header = JSON.parse(lines[0]);
  const events = lines.slice(1).map((line) => JSON.parse(line));
  for (const event of events) {
    assert.equal(event.length, 3, JSON.stringify(event));
    assert.equal(typeof event[0], "number");
    assert.ok(["o", "r", "m"].includes(event[1]), JSON.stringify(event));
    assert.equal(typeof event[2], "string");
  }
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i][0] >= events[i - 1][0], "times never decrease");
  }
  if (events.length) assert.ok(events[0][0] >= 0);
  return { header, events };
}

/** Pipe output as a cast holds it: each bare LF as CRLF. */
function crlf(data: string): string {
  return data.replace(/(?<!\r)\n/g, "\r\n");
}

/** The concatenated data of the cast's output events. */
function castOutput(cast: Cast): string {
  return cast.events.filter((e) => e[1] === "o").map((e) => e[2]).join("");
}

async function download(
  server: TestServer,
  path: string,
  role: "viewer" | "operator" | "admin" = "viewer",
): Promise<Response> {
  return await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${await server.token(role)}` },
  });
}

async function storedChunks(server: TestServer, id: string) {
  const chunks = [];
  for await (const c of server.services.commands.readOutput(id, 0)) {
    chunks.push(c);
  }
  return chunks;
}

/** Runs `asciinema play` on `cast` when asciinema is installed; its output. */
async function asciinemaPlay(cast: string): Promise<string | null> {
  const file = await Deno.makeTempFile({ suffix: ".cast" });
  try {
    await Deno.writeTextFile(file, cast);
    const out = await new Deno.Command("asciinema", {
      args: ["play", "-s", "1000", "-i", "0.01", file],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  } finally {
    await Deno.remove(file);
  }
}

const PROGRESS_COMMAND = [
  "printf '\\033[1;32mgreen\\033[0m plain\\n'",
  "for i in 1 2 3; do printf '\\r%d%%' $((i*33)); sleep 0.1; done",
  "printf '\\r\\033[Kdone\\n'",
  "printf '\\033]0;a title\\007\\033(Bé€ x\\n'",
  "echo err >&2",
].join("; ");

Deno.test("recording: a PTY command with colors and \\r progress downloads as an asciicast v2 that replays its output exactly, and as stripped text", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "rec-1", [
    "--pty",
    "--cols",
    "91",
    "--rows",
    "27",
  ]);
  try {
    await waitAgentStatus(dash, "rec-1", "online");
    const id = await queueCommand(dash, {
      agentId: "rec-1",
      command: PROGRESS_COMMAND,
    });
    const final = await waitFinal(dash, id);
    assert.equal(final.status, "completed");
    const stored = await storedChunks(server, id);
    const output = stored.map((c) => c.data).join("");
    assert.equal(output, outputOf(dash, id).text);
    assert.ok(stored.length >= 2, `several chunks (${stored.length})`);

    const castResponse = await download(
      server,
      `/api/commands/${id}/recording?format=cast`,
    );
    assert.equal(castResponse.status, 200);
    assert.equal(
      castResponse.headers.get("content-type"),
      "application/x-asciicast",
    );
    assert.equal(
      castResponse.headers.get("content-disposition"),
      `attachment; filename="rec-1-${id}.cast"`,
    );
    const castText = await castResponse.text();
    const cast = parseCast(castText);
    assert.deepEqual(cast.header, {
      version: 2,
      width: 91,
      height: 27,
      timestamp: Math.floor(final.startedAt! / 1000),
      title: `rec-1: ${PROGRESS_COMMAND}`,
      env: { TERM: "xterm-256color" },
    });
    // One output event per stored chunk, its data exactly, at its
    // receive time relative to the command's start.
    assert.deepEqual(
      cast.events,
      stored.map((c) => [(c.at! - final.startedAt!) / 1000, "o", c.data]),
    );
    assert.equal(castOutput(cast), output);
    const played = await asciinemaPlay(castText);
    if (played !== null) assert.equal(played, output);

    // No format: a cast too.
    const plain = await download(server, `/api/commands/${id}/recording`);
    assert.equal(await plain.text(), castText);

    const txt = await download(
      server,
      `/api/commands/${id}/recording?format=txt`,
    );
    assert.equal(txt.status, 200);
    assert.equal(txt.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(
      txt.headers.get("content-disposition"),
      `attachment; filename="rec-1-${id}.txt"`,
    );
    assert.equal(await txt.text(), "green plain\ndone\né€ x\nerr\n");
  } finally {
    await agent.kill();
    await dash.close();
  }
});

Deno.test("recording: from/to and a prompt's slice give exactly that seq range, times from the slice's start", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "rec-2");
  try {
    await waitAgentStatus(dash, "rec-2", "online");
    // One line per chunk: each waits for the previous to be stored.
    const id = await queueCommand(dash, {
      agentId: "rec-2",
      command: "for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done",
    });
    const final = await waitFinal(dash, id);
    const stored = await storedChunks(server, id);
    assert.ok(stored.length >= 4, `several chunks (${stored.length})`);
    const [from, to] = [2, stored.length - 1];
    const slice = stored.filter((c) => c.seq >= from && c.seq <= to);
    // Pipe output: each line's LF is a CRLF in the cast.
    const expectedEvents = slice.map((
      c,
    ) => [(c.at! - slice[0].at!) / 1000, "o", crlf(c.data)]);
    assert.ok(
      slice.every((c) => c.stream === "stdout" && c.data.endsWith("\n")),
    );

    const whole = await (await download(
      server,
      `/api/commands/${id}/recording`,
    )).text();
    const all = crlf(stored.map((c) => c.data).join(""));
    assert.equal(castOutput(parseCast(whole)), all);
    const played = await asciinemaPlay(whole);
    if (played !== null) assert.equal(played, all);

    const ranged = await download(
      server,
      `/api/commands/${id}/recording?from=${from}&to=${to}`,
    );
    assert.equal(
      ranged.headers.get("content-disposition"),
      `attachment; filename="rec-2-${id}-seq${from}-${to}.cast"`,
    );
    const cast = parseCast(await ranged.text());
    assert.deepEqual(cast.events, expectedEvents);
    assert.equal(cast.header.timestamp, Math.floor(slice[0].at! / 1000));
    const txt = await download(
      server,
      `/api/commands/${id}/recording?format=txt&from=${from}&to=${to}`,
    );
    assert.equal(await txt.text(), slice.map((c) => c.data).join(""));

    // `to` past the end: up to the last seq.
    const tail = await download(
      server,
      `/api/commands/${id}/recording?format=txt&from=${stored.length}&to=999`,
    );
    assert.equal(await tail.text(), stored.at(-1)!.data);

    // A prompt record (as the session's prompts are stored) whose turn is
    // seqs from..to of a command's output.
    const prompt: StoredCommand = {
      info: {
        ...final,
        id: "prompt-1",
        command: "summarize",
        kind: "prompt",
        session: { commandId: id, fromSeq: from, toSeq: to },
      },
      order: Date.now() * 1000,
      dispatched: false,
      interruptReason: null,
      timeoutMs: null,
    };
    await server.services.storage.importFinished([prompt]);
    const promptCast = parseCast(
      await (await download(server, "/api/commands/prompt-1/recording"))
        .text(),
    );
    assert.deepEqual(promptCast.events, expectedEvents);
    assert.equal(promptCast.header.title, "rec-2: summarize");
    const promptTxt = await download(
      server,
      "/api/commands/prompt-1/recording?format=txt",
    );
    assert.equal(await promptTxt.text(), slice.map((c) => c.data).join(""));
    // Within the prompt's turn, from/to narrow it; outside it they are refused.
    const narrowed = await download(
      server,
      `/api/commands/prompt-1/recording?format=txt&from=${to}`,
    );
    assert.equal(await narrowed.text(), stored[to - 1].data);
    const outside = await download(
      server,
      `/api/commands/prompt-1/recording?from=1`,
    );
    assert.equal(outside.status, 400);
    assert.deepEqual(await outside.json(), {
      error: {
        code: "INVALID_MESSAGE",
        message:
          `Bad "from" 1: prompt "prompt-1" covers seqs ${from}..${to} of its session`,
        recoverable: true,
      },
    });
  } finally {
    await agent.kill();
    await dash.close();
  }
});

Deno.test("recording: output dropped by the per-command cap is marked in both formats", async () => {
  await using server = await startTestServer({ maxCommandOutputBytes: 2048 });
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "rec-3");
  try {
    await waitAgentStatus(dash, "rec-3", "online");
    const id = await queueCommand(dash, {
      agentId: "rec-3",
      command:
        "for i in 1 2 3 4 5 6; do head -c 1000 /dev/zero | tr '\\0' $i; echo; sleep 0.2; done",
    });
    await waitFinal(dash, id);
    const stored = await storedChunks(server, id);
    const first = stored[0].seq;
    assert.ok(first > 1, `the oldest chunks were dropped (first ${first})`);
    const cast = parseCast(
      await (await download(server, `/api/commands/${id}/recording`)).text(),
    );
    assert.deepEqual(cast.events[0].slice(1), [
      "m",
      `output trimmed: seq 1..${first - 1}`,
    ]);
    assert.equal(castOutput(cast), crlf(stored.map((c) => c.data).join("")));
    const txt = await download(
      server,
      `/api/commands/${id}/recording?format=txt`,
    );
    assert.equal(
      await txt.text(),
      `[output trimmed: seq 1..${first - 1}]\n` +
        stored.map((c) => c.data).join(""),
    );
  } finally {
    await agent.kill();
    await dash.close();
  }
});

Deno.test("recording: a session's size at start and the controller's resizes are in the cast", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "rec-4", [
    "--cols",
    "81",
    "--rows",
    "23",
    "--session",
    "--",
    "sh",
    "-c",
    "echo ready; read x; echo got $x",
  ]);
  try {
    const started = await dash.waitFor((m) =>
      m.type === "command:status" && m.payload.command.agentId === "rec-4" &&
      m.payload.command.kind === "session"
    );
    if (started.type !== "command:status") throw new Error("unreachable");
    const id = started.payload.command.id;
    await dash.until(() => outputOf(dash, id).text.includes("ready"));
    await takeControl(dash, "rec-4");
    await sendOk(dash, "terminal:resize", {
      agentId: "rec-4",
      cols: 100,
      rows: 31,
    });
    await sendOk(dash, "terminal:input", { agentId: "rec-4", data: "hi\r" });
    const final = await waitFinal(dash, id);
    assert.equal(final.exitCode, 0);
    const stored = await storedChunks(server, id);
    const output = stored.map((c) => c.data).join("");
    const cast = parseCast(
      await (await download(server, `/api/commands/${id}/recording`)).text(),
    );
    assert.deepEqual(
      [cast.header.width, cast.header.height],
      [81, 23],
    );
    assert.equal(castOutput(cast), output);
    // The resize comes after the output before it, before the rest.
    const resizeAt = cast.events.findIndex((e) => e[1] === "r");
    assert.deepEqual(cast.events[resizeAt].slice(1), ["r", "100x31"]);
    const before = cast.events.slice(0, resizeAt).map((e) => e[2]).join("");
    assert.ok(before.includes("ready"), JSON.stringify(before));
    assert.ok(!before.includes("got hi"), JSON.stringify(before));
    const played = await asciinemaPlay(
      await (await download(server, `/api/commands/${id}/recording`)).text(),
    );
    if (played !== null) assert.equal(played, output);
    // From after the resize: the header says the new size.
    const last = stored.at(-1)!.seq;
    const later = parseCast(
      await (await download(
        server,
        `/api/commands/${id}/recording?from=${last}`,
      )).text(),
    );
    assert.deepEqual([later.header.width, later.header.height], [100, 31]);
  } finally {
    await agent.kill();
    await dash.close();
  }
});

Deno.test("recording: unknown command 404, bad format or range 400, not signed in 401", async () => {
  await using server = await startTestServer();
  const prompt: StoredCommand = {
    info: {
      id: "done-1",
      agentId: "a1",
      command: "true",
      priority: "normal",
      status: "completed",
      requestedBy: "u",
      requestedAt: 1000,
      startedAt: 1000,
      completedAt: 2000,
      exitCode: 0,
      outputBytes: 0,
    },
    order: 1,
    dispatched: false,
    interruptReason: null,
    timeoutMs: null,
  };
  await server.services.storage.importFinished([prompt]);
  const error = async (path: string, status: number, message: string) => {
    const response = await download(server, path);
    assert.equal(response.status, status, path);
    const body = await response.json();
    assert.equal(body.error.message, message, path);
  };
  await error(
    "/api/commands/nope/recording",
    404,
    'Unknown command "nope"',
  );
  await error(
    "/api/commands/done-1/recording?format=mp4",
    400,
    'Unknown format "mp4": use "cast", "txt" or "raw"',
  );
  for (const bad of ["0", "-1", "1.5", "abc", "", "99999999999999999"]) {
    await error(
      `/api/commands/done-1/recording?from=${bad}`,
      400,
      `Bad "from" "${bad}": expected an output seq (a whole number from 1)`,
    );
  }
  await error(
    "/api/commands/done-1/recording?from=5&to=4",
    400,
    'Bad range: "from" 5 is after "to" 4',
  );
  // A command without output: the header alone.
  const empty = await download(server, "/api/commands/done-1/recording");
  assert.deepEqual(parseCast(await empty.text()).events, []);
  const emptyTxt = await download(
    server,
    "/api/commands/done-1/recording?format=txt",
  );
  assert.equal(await emptyTxt.text(), "");

  const anonymous = await fetch(
    `${server.url}/api/commands/done-1/recording`,
  );
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).error.code, "AUTH_FAILED");
  const asAgent = await fetch(`${server.url}/api/commands/done-1/recording`, {
    headers: { authorization: `Bearer ${await server.token("agent", "a1")}` },
  });
  assert.equal(asAgent.status, 401);
  await asAgent.body?.cancel();
});

Deno.test("recording: a large output is streamed from storage, not built in memory first", async () => {
  await using server = await startTestServer();
  const { storage } = server.services;
  const chunkChars = 60_000;
  const chunks = 1000; // 60 MB
  await storage.importFinished([{
    info: {
      id: "big-1",
      agentId: "a1",
      command: "yes",
      priority: "normal",
      status: "completed",
      requestedBy: "u",
      requestedAt: 1000,
      startedAt: 1000,
      completedAt: 2000,
      exitCode: 0,
      outputBytes: chunkChars * chunks,
    },
    order: 1,
    dispatched: false,
    interruptReason: null,
    timeoutMs: null,
    lastSeq: chunks,
  }]);
  const data = (seq: number) => String(seq % 10).repeat(chunkChars - 1) + "\n";
  for (let seq = 1; seq <= chunks; seq++) {
    await storage.output.write("big-1", seq, {
      stream: "stdout",
      data: data(seq),
      at: 1000 + seq,
    });
  }
  // A download stopped after its first bytes ends cleanly on the server.
  const stopped = await download(server, "/api/commands/big-1/recording");
  const stoppedReader = stopped.body!.getReader();
  assert.ok((await stoppedReader.read()).value!.length > 0);
  await stoppedReader.cancel();

  const response = await download(
    server,
    "/api/commands/big-1/recording?format=txt",
  );
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  const first = await reader.read();
  assert.ok(first.value && first.value.length > 0, "the first bytes arrived");
  // The rest of the output disappears now: a body that was already built
  // would still hold it; a stream reads storage as it goes and ends short.
  await storage.output.delete("big-1");
  let received = first.value.length;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    received += value.length;
  }
  const total = chunkChars * chunks;
  assert.ok(
    // Socket buffers on both sides hold a few MB (about 6 MB on Linux
    // loopback); the storage reader about 0.5 MB.
    received < total / 4,
    `received ${received} of ${total} bytes after the output was deleted`,
  );
});

Deno.test("recording: chunks stored without a time take the previous chunk's or the start's; a gap mid-line and at the end is marked", async () => {
  await using server = await startTestServer();
  const { storage } = server.services;
  await storage.importFinished([{
    info: {
      id: "old-1",
      agentId: "a1",
      command: "old",
      priority: "normal",
      status: "completed",
      requestedBy: "u",
      requestedAt: 10_000,
      startedAt: 10_500,
      completedAt: 20_000,
      exitCode: 0,
      outputBytes: 0,
    },
    order: 1,
    dispatched: false,
    interruptReason: null,
    timeoutMs: null,
    lastSeq: 6,
  }]);
  // Seqs 1 and 2 as an older version stored them (no time); 4 and 6 are
  // gone (seq 6: the end the agent dropped).
  await storage.output.write("old-1", 1, { stream: "stdout", data: "a\r" });
  await storage.output.write("old-1", 2, { stream: "stderr", data: "\nb\n" });
  await storage.output.write("old-1", 3, {
    stream: "stdout",
    data: "c",
    at: 12_250,
  });
  await storage.output.write("old-1", 5, {
    stream: "stdout",
    data: "d\x1b[0m",
  });
  const cast = parseCast(
    await (await download(server, "/api/commands/old-1/recording")).text(),
  );
  assert.deepEqual(cast.header.timestamp, 10);
  assert.deepEqual(cast.header.width, 120);
  assert.deepEqual(cast.header.height, 40);
  assert.deepEqual(cast.events, [
    // Pipe output: a bare LF is a CRLF, an LF after CR (also across
    // chunks) stays.
    [0, "o", "a\r"],
    [0, "o", "\nb\r\n"],
    [1.75, "o", "c"],
    [1.75, "m", "output trimmed: seq 4..4"],
    [1.75, "o", "d\x1b[0m"],
    [1.75, "m", "output trimmed: seq 6..6"],
  ]);
  const txt = await download(
    server,
    "/api/commands/old-1/recording?format=txt",
  );
  assert.equal(
    await txt.text(),
    "a\nb\nc\n[output trimmed: seq 4..4]\nd\n[output trimmed: seq 6..6]\n",
  );
});
