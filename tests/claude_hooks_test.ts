/**
 * Claude Code hooks through a real server, a real agent process
 * (`--type claude --session`, whose default program is `claude`) and
 * dashboards, with a fake `claude` on PATH (tests/fixtures/fake_claude.ts)
 * that runs the hooks of the `--settings` it was given as Claude Code does:
 * the wrapper's hooks move the activity every dashboard sees, the
 * notification's message is the attention, a question only the hook
 * reveals still reads `needs-input`, and a user's own `--settings` hooks
 * still run.
 */
import assert from "node:assert/strict";
import type { AgentInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  outputOf,
  queueCommand,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitFinal,
} from "./helpers.ts";
import { labelsSeen, waitLabel, waitSession } from "./session_agent.ts";

const FAKE_BIN = new URL("./fixtures/fake_claude_bin", import.meta.url)
  .pathname;

const seenBy = (client: TestClient, agentId: string) =>
  labelsSeen(client, agentId, labelOf);
const waitSeen = (client: TestClient, agentId: string, label: string) =>
  waitLabel(client, agentId, label, labelOf);

function labelOf(agent: AgentInfo): string {
  const keys = agent.options?.map((o) => o.key).join("") ?? "";
  return [agent.activity, agent.attention ?? "", keys].filter(Boolean)
    .join(" | ");
}

async function startAgent(
  server: TestServer,
  id: string,
  cwd: string,
  program: string[] = [],
  flags: string[] = [],
): Promise<AgentProcess> {
  const token = await server.token("agent", id);
  return new AgentProcess([
    "--server",
    server.url,
    "--name",
    id,
    "--type",
    "claude",
    "--cwd",
    cwd,
    "--session",
    ...flags,
    ...(program.length ? ["--", ...program] : []),
  ], {
    FLIGHTDECK_TOKEN: token,
    PATH: `${FAKE_BIN}:${Deno.env.get("PATH") ?? ""}`,
    FAKE_CLAUDE_DENO: Deno.execPath(),
  });
}

const WRITE_ASKS =
  "needs-input | Claude needs your permission to use Write | 12";
const BASH_ASKS = "needs-input | Claude needs your permission to use Bash";

Deno.test("a claude session's hooks reach every dashboard: the notification's message is the attention, with quick answers from the screen", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-hooks-" });
  const agent = await startAgent(server, "ch-1", cwd);
  const clients: TestClient[] = [];
  try {
    const operator = await TestClient.dashboard(server, "operator");
    const viewer = await TestClient.dashboard(server, "viewer");
    clients.push(operator, viewer);
    const session = await waitSession(operator, "ch-1");
    // The default program for --type claude, with the hooks added.
    assert.equal(session.command, "claude");
    await waitSeen(operator, "ch-1", "waiting");

    await takeControl(operator, "ch-1");
    await sendOk(operator, "terminal:input", {
      agentId: "ch-1",
      data: "write a.txt\r",
    });
    for (const client of [operator, viewer]) {
      await waitSeen(client, "ch-1", WRITE_ASKS);
    }
    await assert.rejects(Deno.stat(`${cwd}/a.txt`), Deno.errors.NotFound);
    await sendOk(operator, "terminal:input", { agentId: "ch-1", data: "1" });
    await waitSeen(operator, "ch-1", "waiting");
    assert.equal(await Deno.readTextFile(`${cwd}/a.txt`), "hi\n");
    // The hook tells at once; the quick answers follow once the screen
    // holds still (quiescence).
    const seen = seenBy(operator, "ch-1");
    assert.deepEqual(seen.slice(seen.indexOf("waiting")), [
      "waiting",
      "working",
      "needs-input | Claude needs your permission to use Write",
      WRITE_ASKS,
      "working",
      "waiting",
    ]);

    // A question the screen does not show as one: only the hook tells.
    await sendOk(operator, "terminal:input", {
      agentId: "ch-1",
      data: "hush\r",
    });
    for (const client of [operator, viewer]) {
      await waitSeen(client, "ch-1", BASH_ASKS);
    }
    await sendOk(operator, "terminal:input", { agentId: "ch-1", data: "x" });
    for (const client of [operator, viewer]) {
      await waitSeen(client, "ch-1", "waiting");
    }

    await sendOk(operator, "terminal:input", {
      agentId: "ch-1",
      data: "\x04",
    });
    const final = await waitFinal(operator, session.id);
    assert.deepEqual([final.status, final.exitCode], ["completed", 0]);
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("a user's own --settings for claude keeps its hooks and settings next to the wrapper's", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-hooks-" });
  const log = `${cwd}/user-stop.json`;
  await Deno.writeTextFile(
    `${cwd}/mine.json`,
    JSON.stringify({
      model: "opus",
      hooks: {
        Stop: [{ hooks: [{ type: "command", command: `cat > ${log}` }] }],
      },
    }),
  );
  const agent = await startAgent(server, "ch-2", cwd, [
    "claude",
    "--settings",
    "mine.json",
  ]);
  const clients: TestClient[] = [];
  try {
    const operator = await TestClient.dashboard(server, "operator");
    clients.push(operator);
    const session = await waitSession(operator, "ch-2");
    await waitSeen(operator, "ch-2", "waiting");
    await takeControl(operator, "ch-2");
    await sendOk(operator, "terminal:input", {
      agentId: "ch-2",
      data: "hush\r",
    });
    await waitSeen(operator, "ch-2", BASH_ASKS);
    await sendOk(operator, "terminal:input", { agentId: "ch-2", data: "x" });
    await waitSeen(operator, "ch-2", "waiting");
    // The program ends only once every hook of its turn finished.
    await sendOk(operator, "terminal:input", {
      agentId: "ch-2",
      data: "\x04",
    });
    await waitFinal(operator, session.id);
    // The user's Stop hook ran too, with Claude Code's payload.
    const stop = JSON.parse(await Deno.readTextFile(log));
    assert.equal(stop.hook_event_name, "Stop");
    assert.equal(stop.cwd, cwd);
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("--no-claude-hooks starts claude without the wrapper's --settings", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-hooks-" });
  const agents = [
    await startAgent(server, "ch-3", cwd),
    await startAgent(server, "ch-4", cwd, [], ["--no-claude-hooks"]),
  ];
  let operator: TestClient | undefined;
  try {
    operator = await TestClient.dashboard(server, "operator");
    for (const [id, events] of [["ch-3", 6], ["ch-4", 0]] as const) {
      const session = await waitSession(operator, id);
      operator.send("terminal:resume", { commandId: session.id, afterSeq: 0 });
      await operator.until(
        () => outputOf(operator!, session.id).text.includes("Fake Claude"),
        { what: `${id}'s banner` },
      );
      assert.match(
        outputOf(operator, session.id).text,
        new RegExp(`Fake Claude Code \\(hooks for ${events} events\\)`),
      );
    }
  } finally {
    await operator?.close();
    for (const agent of agents) await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("prompts to a claude session are typed when its hooks and screen say waiting, one at a time", async () => {
  const server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-hooks-" });
  const agent = await startAgent(server, "ch-5", cwd);
  let operator: TestClient | undefined;
  try {
    operator = await TestClient.dashboard(server, "operator");
    const session = await waitSession(operator, "ch-5");
    await waitSeen(operator, "ch-5", "waiting");
    const first = await queueCommand(operator, {
      agentId: "ch-5",
      command: "write b.txt",
    });
    const second = await queueCommand(operator, {
      agentId: "ch-5",
      command: "hello there",
    });
    // The first asks; the second waits for it.
    await waitSeen(operator, "ch-5", WRITE_ASKS.replace("a.txt", "b.txt"));
    await takeControl(operator, "ch-5");
    await sendOk(operator, "terminal:input", { agentId: "ch-5", data: "1" });
    for (const id of [first, second]) {
      await waitFinal(operator, id);
    }
    const final = (id: string) =>
      operator!.of("command:status").map((m) => m.command)
        .findLast((c) => c.id === id)!;
    assert.deepEqual(
      [final(first).status, final(second).status],
      ["completed", "completed"],
    );
    assert.equal(await Deno.readTextFile(`${cwd}/b.txt`), "hi\n");
    operator.send("terminal:resume", { commandId: session.id, afterSeq: 0 });
    await operator.until(
      () => outputOf(operator!, session.id).text.includes("Done: hello there"),
      { what: "the second prompt's answer" },
    );
  } finally {
    await operator?.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(cwd, { recursive: true });
  }
});
