/**
 * Session agents through a real server, a real agent process
 * (`--type claude --session -- <fake Claude-like CLI>`) and dashboards: the
 * session is the agent's running command, a record of kind `session`; its
 * activity is read from the screen with the claude detector; the controller
 * answers the permission dialog and the file appears; a late dashboard's
 * resume from 0 gets the whole output in order; double Ctrl-C ends the
 * session `completed` with exit code 0. Prompts to a session agent are
 * tested in session_prompts_test.ts.
 */
import assert from "node:assert/strict";
import type { AgentInfo } from "../lib/protocol.ts";
import {
  echoBarrier,
  outputOf,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitFinal,
} from "./helpers.ts";
import {
  labelsSeen,
  startSessionAgent,
  waitLabel,
  waitSession,
} from "./session_agent.ts";

/** `activity` (`activity:N options` with options), per change seen. */
function activityLabel(agent: AgentInfo): string {
  const n = agent.options?.length ?? 0;
  return n ? `${agent.activity}:${n} options` : agent.activity!;
}
const activitiesSeen = (client: TestClient, agentId: string) =>
  labelsSeen(client, agentId, activityLabel);
const waitActivity = (client: TestClient, agentId: string, label: string) =>
  waitLabel(client, agentId, label, activityLabel);

Deno.test("a --session agent runs its program as a kind:session command: answerable, activity from its screen, resumable, ends with its exit code", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-session-" });
  const agent = await startSessionAgent(server, "sa-1", {
    cwd,
    cols: 100,
    rows: 30,
    cliFlags: ["--work-ms", "300"],
  });
  const clients: TestClient[] = [];
  try {
    const operator = await TestClient.dashboard(server, "operator");
    clients.push(operator);
    const session = await waitSession(operator, "sa-1");
    assert.equal(session.kind, "session");
    assert.equal(session.requestedBy, "agent:sa-1");
    assert.notEqual(session.startedAt, null);
    assert.match(session.command, /fake_ai_cli\.ts --work-ms 300$/);
    // It is the agent's running command.
    await operator.until(
      () =>
        operator.of("agent:status").some((m) =>
          m.agent.id === "sa-1" && m.agent.currentCommandId === session.id
        ),
      { what: "sa-1 running its session" },
    );

    await waitActivity(operator, "sa-1", "waiting");
    await takeControl(operator, "sa-1");
    await sendOk(operator, "terminal:input", {
      agentId: "sa-1",
      data: "write hello.txt\r",
    });
    await waitActivity(operator, "sa-1", "working");
    await waitActivity(operator, "sa-1", "needs-input:3 options");
    const asking = operator.of("agent:status").findLast((m) =>
      m.agent.id === "sa-1"
    )!.agent;
    assert.match(asking.attention ?? "", /create hello\.txt\?/);
    assert.deepEqual(asking.options?.map((o) => o.key), ["1", "2", "3"]);
    await assert.rejects(Deno.stat(`${cwd}/hello.txt`), Deno.errors.NotFound);

    await sendOk(operator, "terminal:input", { agentId: "sa-1", data: "1" });
    await waitActivity(operator, "sa-1", "working");
    await waitActivity(operator, "sa-1", "waiting");
    assert.equal(
      await Deno.readTextFile(`${cwd}/hello.txt`),
      "hello from fake cli\n",
    );
    const seen = activitiesSeen(operator, "sa-1");
    const from = seen.indexOf("waiting");
    assert.deepEqual(seen.slice(from), [
      "waiting",
      "working",
      "needs-input:3 options",
      "working",
      "waiting",
    ]);

    // A late dashboard resumes the session from 0: all of it, in order.
    const late = await TestClient.dashboard(server, "viewer");
    clients.push(late);
    late.send("terminal:resume", { commandId: session.id, afterSeq: 0 });
    await late.until(() => {
      const mine = outputOf(late, session.id);
      const theirs = outputOf(operator, session.id);
      return mine.seqs.length > 0 &&
        mine.seqs.join() === theirs.seqs.join() && mine.text === theirs.text;
    }, { what: "the late dashboard's copy of the session" });
    const { seqs, text } = outputOf(late, session.id);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
    assert.match(text, /Do you want to create hello\.txt\?/);

    // Double Ctrl-C at the prompt: the program exits 0, the session ends.
    await sendOk(operator, "terminal:input", {
      agentId: "sa-1",
      data: "\x03\x03",
    });
    const final = await waitFinal(operator, session.id);
    assert.deepEqual(
      [final.kind, final.status, final.exitCode],
      ["session", "completed", 0],
    );
    assert.match(outputOf(operator, session.id).text, /Goodbye/);
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("after a server restart the agent reports its session as running: the same record continues, no second session starts", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "fd-session-data-" });
  const cwd = await Deno.makeTempDir({ prefix: "fd-session-" });
  const first = await startTestServer({ dataDir });
  const port = Number(new URL(first.url).port);
  let second: TestServer | undefined;
  const agent = await startSessionAgent(first, "sa-2", {
    cwd,
    cliFlags: ["--work-ms", "300"],
  });
  const clients: TestClient[] = [];
  try {
    const before = await TestClient.dashboard(first, "operator");
    clients.push(before);
    const session = await waitSession(before, "sa-2");
    await waitActivity(before, "sa-2", "waiting");

    await first.shutdown();
    second = await startTestServer({ port, dataDir });
    const after = await TestClient.dashboard(second, "operator");
    clients.push(after);
    await after.until(
      () =>
        after.of("agent:status").some((m) =>
          m.agent.id === "sa-2" && m.agent.status === "busy" &&
          m.agent.currentCommandId === session.id
        ),
      { what: "sa-2 back, running its session" },
    );
    await waitActivity(after, "sa-2", "waiting");

    await takeControl(after, "sa-2");
    await sendOk(after, "terminal:input", {
      agentId: "sa-2",
      data: "\x03\x03",
    });
    const final = await waitFinal(after, session.id);
    assert.deepEqual([final.status, final.exitCode], ["completed", 0]);

    // One session record in all: the agent asked for no second one.
    await echoBarrier(after);
    const sessions = new Set(
      after.of("command:status").map((m) => m.command)
        .filter((c) => c.agentId === "sa-2" && c.kind === "session")
        .map((c) => c.id),
    );
    assert.deepEqual([...sessions], [session.id]);
    // Its whole output is there, in order, across the restart.
    after.send("terminal:resume", { commandId: session.id, afterSeq: 0 });
    await after.until(
      () => outputOf(after, session.id).text.includes("Goodbye"),
      { what: "the replayed session" },
    );
  } finally {
    for (const c of clients) await c.close();
    await agent.kill();
    await first.shutdown().catch(() => {});
    await second?.shutdown();
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(cwd, { recursive: true });
  }
});
