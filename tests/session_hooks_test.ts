/**
 * The agent's session hooks that the local terminal uses, in process against
 * a real server: `onSessionOutput` sees the session's output,
 * `sessionInput` types into it, `sessionResize` resizes it and is the size
 * a restarted session starts at, `onSessionEvent` reports start and end; a
 * `session:restart` reaching an agent whose session runs is ignored.
 */
import assert from "node:assert/strict";
import { type SessionEvent, startAgent } from "../lib/agent/connection.ts";
import { createMemoryLogger } from "../lib/agent/logger.ts";
import { loadPty } from "../lib/agent/pty_runner.ts";
import { toAgent } from "../lib/protocol.ts";
import {
  outputOf,
  sendOk,
  startTestServer,
  TestClient,
  waitFinal,
} from "./helpers.ts";

Deno.test("session hooks: output, local input and resize, start and end events; a restart starts at the last size", async () => {
  const server = await startTestServer();
  const operator = await TestClient.dashboard(server, "operator");
  const logger = createMemoryLogger();
  const events: SessionEvent[] = [];
  let output = "";
  const agent = startAgent({
    serverUrl: server.url,
    token: await server.token("agent", "hk-1"),
    agentId: "hk-1",
    name: "hk-1",
    type: "shell",
    cwd: Deno.cwd(),
    templates: {},
    graceMs: 300,
    logger,
    pty: { api: await loadPty(), cols: 80, rows: 24 },
    session: {
      argv: [
        "bash",
        "-c",
        'stty -echo; while read l; do [ "$l" = size ] && stty size; ' +
        'echo "got $l"; done',
      ],
    },
    onSessionOutput: (text) => output += text,
    onSessionEvent: (event) => events.push(event),
  });
  const until = (check: () => boolean, what: string) =>
    operator.until(check, { what, timeoutMs: 15_000 }).catch((error) => {
      throw new Error(`${error}\nagent log:\n${logger.lines.join("\n")}`);
    });
  try {
    await until(
      () => events.length >= 1,
      "the session started",
    );
    assert.equal(events.length, 1, JSON.stringify(events));
    const first = events[0];
    assert.equal(first.kind, "started");
    assert.deepEqual(
      first.kind === "started" && [first.cols, first.rows],
      [80, 24],
    );

    agent.sessionInput("size\r");
    await until(() => output.includes("got size"), "the local keys' answer");
    assert.match(output, /24 80\r\ngot size/);
    // The dashboard sees the same session output.
    await until(
      () => outputOf(operator, first.commandId).text.includes("got size"),
      "the output at the dashboard",
    );

    agent.sessionResize(90, 20);
    agent.sessionInput("size\r");
    await until(() => /20 90\r\ngot size/.test(output), "the new size");

    // A restart request reaching an agent whose session runs is ignored.
    server.services.sendToAgent(
      "hk-1",
      toAgent("session:restart", { requestedBy: "someone" }),
    );
    agent.sessionInput("after\r");
    await until(() => output.includes("got after"), "still the same session");
    assert.ok(
      logger.lines.includes(
        "flightdeck-agent: ignored session:restart from someone: the session is running",
      ),
    );

    // EOF ends the program: the session ends, nothing restarts by itself.
    agent.sessionInput("\x04");
    await until(() => events.length === 2, "the session ended");
    assert.deepEqual(events[1], {
      kind: "ended",
      commandId: first.commandId,
      status: "completed",
      exitCode: 0,
      restartInMs: null,
    });

    // Resized while ended: the restarted session starts at that size.
    agent.sessionResize(60, 15);
    // (The agent reports the end before the server has stored it.)
    await waitFinal(operator, first.commandId);
    await sendOk(operator, "session:restart", { agentId: "hk-1" });
    await until(() => events.length === 3, "the restarted session");
    const second = events[2];
    assert.equal(second.kind, "started");
    assert.notEqual(second.commandId, first.commandId);
    assert.deepEqual(
      second.kind === "started" && [second.cols, second.rows],
      [60, 15],
    );
    output = "";
    agent.sessionInput("size\r");
    await until(() => /15 60\r\ngot size/.test(output), "the restart's size");
  } finally {
    await agent.stop();
    await operator.close();
    await server.shutdown();
  }
});
