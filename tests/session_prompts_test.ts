/**
 * Prompts to a session through a real server, a real agent process
 * (`--type claude --session -- <fake Claude-like CLI>`) and dashboards:
 * queued prompts are typed only when the session waits (not while it works
 * or shows a permission dialog), in priority order; each prompt's record has
 * its turn's seq range and ends `completed`; its replay is exactly that
 * slice of the session's output; interrupt sends Ctrl-C and the session
 * keeps running; a session that ended refuses new prompts and keeps queued
 * ones; a server SIGKILL and restart loses nothing and types nothing twice.
 */
import assert from "node:assert/strict";
import type { CommandInfo, Priority, Role } from "../lib/protocol.ts";
import {
  AgentProcess,
  echoBarrier,
  outputOf,
  queueCommand,
  requestCommand,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitFinal,
  waitStatus,
} from "./helpers.ts";
import {
  startSessionAgent,
  waitActivity,
  waitSession,
} from "./session_agent.ts";
import { ServerProcess } from "./faults/server_process.ts";

/** What the tests need of a server: the in-process one or a subprocess. */
interface AnyServer {
  url: string;
  wsUrl: string;
  token(role: Role, agentId?: string): Promise<string>;
}

async function dashboard(server: AnyServer, role: Role = "operator") {
  return await TestClient.dashboard(server as TestServer, role);
}

function startAgent(
  server: AnyServer,
  id: string,
  cwd: string,
  cliFlags: string[],
): Promise<AgentProcess> {
  return startSessionAgent(server, id, {
    cwd,
    cols: 100,
    rows: 30,
    cliFlags,
  });
}

/** The latest record of `commandId` seen by `client`. */
function recordOf(client: TestClient, commandId: string): CommandInfo {
  const found = client.of("command:status").map((m) => m.command)
    .findLast((c) => c.id === commandId);
  assert.ok(found, `a status of ${commandId}`);
  return found;
}

/** The prompts the fake CLI finished, in order ("● Done: TEXT"). */
function doneOrder(text: string): string[] {
  return [...text.matchAll(/Done: ([\w-]+)/g)].map((m) => m[1]);
}

/** The queue of `agentId` as `client` last heard it. */
function queueOf(client: TestClient, agentId: string): string[] {
  return client.of("command:queue").findLast((m) => m.agentId === agentId)
    ?.queue.map((q) => q.commandId) ?? [];
}

/** The whole stored output of `commandId`, replayed to a fresh `client`. */
async function replay(
  client: TestClient,
  commandId: string,
  done: (got: { text: string; seqs: number[] }) => boolean,
): Promise<{ text: string; seqs: number[] }> {
  client.send("terminal:resume", { commandId, afterSeq: 0 });
  return await client.until(() => {
    // Live chunks and replayed ones, once each, in seq order.
    const bySeq = chunksBySeq(client, commandId);
    const seqs = [...bySeq.keys()].sort((a, b) => a - b);
    const got = { seqs, text: seqs.map((seq) => bySeq.get(seq)).join("") };
    return done(got) && got;
  }, { what: `replay of ${commandId}` });
}

/** Chunks of `commandId` seen by `client`, by seq. */
function chunksBySeq(client: TestClient, commandId: string) {
  const bySeq = new Map<number, string>();
  for (const c of client.of("terminal:output")) {
    if (c.commandId === commandId) bySeq.set(c.seq, c.data);
  }
  return bySeq;
}

/** Each prompt completed with a seq range; ranges ascend without overlap. */
function assertTurns(records: CommandInfo[], sessionId: string): void {
  let after = 0;
  for (const r of records) {
    assert.equal(r.kind, "prompt");
    assert.equal(r.status, "completed", `${r.command} completed`);
    assert.equal(r.exitCode, 0);
    assert.ok(r.session, `${r.command} has a seq range`);
    assert.equal(r.session.commandId, sessionId);
    assert.ok(r.session.toSeq !== null);
    assert.ok(r.session.fromSeq > after, `${r.command} starts after ${after}`);
    assert.ok(r.session.toSeq >= r.session.fromSeq, `${r.command} printed`);
    after = r.session.toSeq;
  }
}

Deno.test("queued prompts are typed only while the session waits, in priority order; each has its seq range and its replay is exactly its slice", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-prompts-" });
  const agent = await startAgent(server, "sp-1", cwd, ["--work-ms", "1500"]);
  const clients: TestClient[] = [];
  try {
    const operator = await dashboard(server);
    clients.push(operator);
    const session = await waitSession(operator, "sp-1");
    await waitActivity(operator, "sp-1", "waiting");

    // One prompt goes at once; three more queue up while it works.
    const first = await queueCommand(operator, {
      agentId: "sp-1",
      command: "first",
    });
    const running = await waitStatus(operator, first, "running");
    assert.equal(running.kind, "prompt");
    assert.equal(running.session?.commandId, session.id);
    assert.equal(running.session?.toSeq, null);
    // The session stays the agent's running command.
    await echoBarrier(operator);
    const agentNow = operator.of("agent:status").findLast((m) =>
      m.agent.id === "sp-1"
    )?.agent;
    assert.equal(agentNow?.currentCommandId, session.id);

    const ids = new Map<string, string>();
    for (
      const [label, priority] of [
        ["low-one", "low"],
        ["normal-two", "normal"],
        ["high-three", "high"],
      ] as [string, Priority][]
    ) {
      ids.set(
        label,
        await queueCommand(operator, {
          agentId: "sp-1",
          command: label,
          priority,
        }),
      );
    }
    await echoBarrier(operator);
    assert.equal(recordOf(operator, first).status, "running");
    assert.deepEqual(queueOf(operator, "sp-1"), [
      ids.get("high-three"),
      ids.get("normal-two"),
      ids.get("low-one"),
    ]);

    // A permission dialog holds the queue too: the prompt that asks for it
    // goes first (high), one more waits behind it until it is answered.
    const write = await queueCommand(operator, {
      agentId: "sp-1",
      command: "write hello.txt",
      priority: "high",
    });
    for (const id of [first, ids.get("high-three")!]) {
      assert.equal((await waitFinal(operator, id)).status, "completed");
    }
    await waitStatus(operator, write, "running");
    await waitActivity(operator, "sp-1", "needs-input");
    const during = await queueCommand(operator, {
      agentId: "sp-1",
      command: "during-dialog",
      priority: "high",
    });
    await echoBarrier(operator);
    // Still asking, nothing typed into the dialog: the write is in flight,
    // the rest waits.
    assert.equal(recordOf(operator, write).status, "running");
    assert.equal(recordOf(operator, during).status, "queued");
    assert.deepEqual(queueOf(operator, "sp-1"), [
      during,
      ids.get("normal-two"),
      ids.get("low-one"),
    ]);
    await assert.rejects(Deno.stat(`${cwd}/hello.txt`), Deno.errors.NotFound);
    await takeControl(operator, "sp-1");
    await sendOk(operator, "terminal:input", { agentId: "sp-1", data: "1" });

    const order = [
      first,
      ids.get("high-three")!,
      write,
      during,
      ids.get("normal-two")!,
      ids.get("low-one")!,
    ];
    for (const id of order) await waitFinal(operator, id);
    assert.equal(
      await Deno.readTextFile(`${cwd}/hello.txt`),
      "hello from fake cli\n",
    );
    const records = order.map((id) => recordOf(operator, id));
    assertTurns(records, session.id);
    // Records are ordered by their seq ranges: the program got them in
    // exactly this order, each once.
    const late = await dashboard(server, "viewer");
    clients.push(late);
    const lastSeq = records.at(-1)!.session!.toSeq!;
    const whole = await replay(
      late,
      session.id,
      (got) => got.seqs.length >= lastSeq,
    );
    assert.deepEqual(doneOrder(whole.text), [
      "first",
      "high-three",
      "during-dialog",
      "normal-two",
      "low-one",
    ]);
    assert.match(whole.text, /Wrote hello\.txt[\s\S]*Done: during-dialog/);

    // Each prompt's replay is exactly its slice of the session's output.
    const bySeq = chunksBySeq(late, session.id);
    for (const r of records) {
      const { fromSeq, toSeq } = r.session!;
      const slice = [];
      for (let seq = fromSeq; seq <= toSeq!; seq++) slice.push(bySeq.get(seq));
      const got = await replay(
        late,
        r.id,
        (got) => got.seqs.length === toSeq! - fromSeq + 1,
      );
      assert.deepEqual(got.seqs, slice.map((_, i) => i + 1));
      assert.equal(got.text, slice.join(""));
      assert.ok(got.text.includes(r.command), `${r.command} in its slice`);
    }
    // The answer to the dialog is inside the write prompt's slice, and no
    // slice holds another prompt's result.
    const writeSlice = outputOf(late, write).text;
    assert.match(writeSlice, /Do you want to create hello\.txt\?/);
    assert.match(writeSlice, /Wrote hello\.txt/);
    for (const r of records) {
      const done = doneOrder(outputOf(late, r.id).text);
      assert.deepEqual(done, r.id === write ? [] : [r.command]);
    }
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("interrupting a prompt or the session sends Ctrl-C and the session keeps running; a queued prompt is removed untyped; emergency stop cancels queued prompts and sends one Ctrl-C", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-prompts-" });
  const agent = await startAgent(server, "sp-2", cwd, ["--work-ms", "60000"]);
  const clients: TestClient[] = [];
  try {
    const operator = await dashboard(server);
    const admin = await dashboard(server, "admin");
    clients.push(operator, admin);
    const session = await waitSession(operator, "sp-2");
    await waitActivity(operator, "sp-2", "waiting");

    // A prompt that would work for a minute, and one queued behind it.
    const long = await queueCommand(operator, {
      agentId: "sp-2",
      command: "long-work",
    });
    await waitStatus(operator, long, "running");
    await waitActivity(operator, "sp-2", "working");
    const queued = await queueCommand(operator, {
      agentId: "sp-2",
      command: "never-typed",
    });
    await sendOk(operator, "command:interrupt", { commandId: queued });
    const removed = await waitFinal(operator, queued);
    assert.deepEqual([removed.status, removed.startedAt], [
      "cancelled",
      null,
    ]);

    await sendOk(operator, "command:interrupt", { commandId: long });
    const stopped = await waitFinal(operator, long);
    assert.equal(stopped.status, "interrupted");
    assert.equal(stopped.exitCode, null);
    assert.ok(stopped.session?.toSeq, "its turn has an end");
    await waitActivity(operator, "sp-2", "waiting");
    const text = () => outputOf(operator, session.id).text;
    assert.match(text(), /Interrupted by user/);
    assert.doesNotMatch(text(), /never-typed/);

    // Interrupting the session interrupts its prompt in flight; the session
    // goes on.
    const second = await queueCommand(operator, {
      agentId: "sp-2",
      command: "second-work",
    });
    await waitStatus(operator, second, "running");
    await waitActivity(operator, "sp-2", "working");
    await sendOk(operator, "command:interrupt", { commandId: session.id });
    assert.equal((await waitFinal(operator, second)).status, "interrupted");
    await waitActivity(operator, "sp-2", "waiting");
    assert.equal(
      text().match(/Interrupted by user/g)?.length,
      2,
      "one Ctrl-C per interrupt",
    );
    assert.equal(recordOf(operator, session.id).status, "running");

    // Emergency stop: the running prompt gets one Ctrl-C, the queued one is
    // cancelled, the session keeps running.
    const third = await queueCommand(operator, {
      agentId: "sp-2",
      command: "third-work",
    });
    await waitStatus(operator, third, "running");
    await waitActivity(operator, "sp-2", "working");
    const fourth = await queueCommand(operator, {
      agentId: "sp-2",
      command: "fourth-work",
    });
    await sendOk(admin, "emergency:stop", {});
    assert.equal((await waitFinal(operator, third)).status, "interrupted");
    const cancelled = await waitFinal(operator, fourth);
    assert.deepEqual([cancelled.status, cancelled.startedAt], [
      "cancelled",
      null,
    ]);
    await waitActivity(operator, "sp-2", "waiting");
    assert.equal(text().match(/Interrupted by user/g)?.length, 3);
    assert.doesNotMatch(text(), /Goodbye|fourth-work/);

    // Still alive and answering prompts.
    const after = await queueCommand(operator, {
      agentId: "sp-2",
      command: "still-alive",
    });
    // The fake CLI works for a minute per prompt: interrupt once it works.
    await waitStatus(operator, after, "running");
    await waitActivity(operator, "sp-2", "working");
    await sendOk(operator, "command:interrupt", { commandId: after });
    assert.equal((await waitFinal(operator, after)).status, "interrupted");
    assert.equal(recordOf(operator, session.id).status, "running");
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a session that ended: its typed prompt ends with it, queued ones stay queued, new prompts get NOT_FOUND; an offline agent gets AGENT_OFFLINE", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-prompts-" });
  const agent = await startAgent(server, "sp-3", cwd, [
    "--work-ms",
    "800",
    "--exit-after-prompts",
    "1",
    "--exit-code",
    "3",
  ]);
  const clients: TestClient[] = [];
  try {
    const operator = await dashboard(server);
    clients.push(operator);
    const session = await waitSession(operator, "sp-3");
    await waitActivity(operator, "sp-3", "waiting");
    const last = await queueCommand(operator, {
      agentId: "sp-3",
      command: "last-one",
    });
    await waitStatus(operator, last, "running");
    const stays = await queueCommand(operator, {
      agentId: "sp-3",
      command: "stays-queued",
    });
    // The program exits (code 3) after its first turn: the session fails,
    // the prompt's turn ended with it.
    const ended = await waitFinal(operator, session.id);
    assert.deepEqual([ended.status, ended.exitCode], ["failed", 3]);
    const turn = await waitFinal(operator, last);
    assert.deepEqual([turn.status, turn.exitCode], ["failed", 3]);
    assert.ok(turn.session!.toSeq! >= turn.session!.fromSeq);
    await echoBarrier(operator);
    assert.equal(recordOf(operator, stays).status, "queued");
    assert.deepEqual(queueOf(operator, "sp-3"), [stays]);

    const refused = await requestCommand(operator, {
      agentId: "sp-3",
      command: "too-late",
    });
    assert.equal(refused.type, "error");
    assert.equal(refused.payload.code, "NOT_FOUND");
    assert.match(String(refused.payload.message), /runs no session/);
    await echoBarrier(operator);
    assert.deepEqual(queueOf(operator, "sp-3"), [stays]);

    await agent.kill();
    await operator.until(
      () =>
        operator.of("agent:status").some((m) =>
          m.agent.id === "sp-3" && m.agent.status === "offline"
        ),
      { what: "sp-3 offline" },
    );
    const offline = await requestCommand(operator, {
      agentId: "sp-3",
      command: "offline",
    });
    assert.equal(offline.type, "error");
    assert.equal(offline.payload.code, "AGENT_OFFLINE");
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test({
  name:
    "prompts survive a dashboard cut and a server SIGKILL + restart: nothing lost, none typed twice, records consistent",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await ServerProcess.start();
    const cwd = await Deno.makeTempDir({ prefix: "fd-prompts-" });
    const agent = await startAgent(server, "sp-4", cwd, ["--work-ms", "4000"]);
    const clients: TestClient[] = [];
    try {
      const first = await dashboard(server);
      clients.push(first);
      const session = await waitSession(first, "sp-4");
      await waitActivity(first, "sp-4", "waiting");
      const labels: [string, Priority][] = [
        ["in-flight", "normal"],
        ["low-q", "low"],
        ["normal-q", "normal"],
        ["high-q", "high"],
      ];
      const ids = new Map<string, string>();
      for (const [label, priority] of labels) {
        ids.set(
          label,
          await queueCommand(first, {
            agentId: "sp-4",
            command: label,
            priority,
          }),
        );
        if (label === "in-flight") {
          await waitStatus(first, ids.get(label)!, "running");
        }
      }
      // A dashboard cut: the work goes on without any dashboard.
      await first.close();
      const second = await dashboard(server);
      clients.push(second);
      assert.equal(recordOf(second, ids.get("in-flight")!).status, "running");
      assert.deepEqual(queueOf(second, "sp-4"), [
        ids.get("high-q"),
        ids.get("normal-q"),
        ids.get("low-q"),
      ]);

      // SIGKILL while the first one works and three wait.
      await server.kill("SIGKILL");
      await server.restart();
      const third = await dashboard(server);
      clients.push(third);
      const order = ["in-flight", "high-q", "normal-q", "low-q"].map((l) =>
        ids.get(l)!
      );
      for (const id of order) {
        await waitFinal(third, id, 60_000);
      }
      const records = order.map((id) => recordOf(third, id));
      assertTurns(records, session.id);
      assert.equal(recordOf(third, session.id).status, "running");

      const whole = await replay(
        third,
        session.id,
        (got) => got.seqs.length >= records.at(-1)!.session!.toSeq!,
      );
      // Nothing lost (seqs 1..n), each typed exactly once, in order.
      assert.deepEqual(whole.seqs, whole.seqs.map((_, i) => i + 1));
      assert.deepEqual(doneOrder(whole.text), [
        "in-flight",
        "high-q",
        "normal-q",
        "low-q",
      ]);
      // The prompts' records as stored, after another restart.
      await server.kill("SIGKILL");
      await server.restart();
      const fourth = await dashboard(server);
      clients.push(fourth);
      for (const id of order) {
        assert.deepEqual(recordOf(fourth, id), recordOf(third, id));
      }
    } finally {
      for (const client of clients) await client.close();
      await agent.kill();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
