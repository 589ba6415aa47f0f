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
  const memory = createMemoryLogger();
  /** The agent's log, also a signal for {@link until}. */
  const logger = {
    lines: memory.lines,
    info: (message: string) => (memory.info(message), changed()),
    warn: (message: string) => (memory.warn(message), changed()),
    error: (message: string) => (memory.error(message), changed()),
  };
  const events: SessionEvent[] = [];
  let output = "";
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const attempt of [...waiters]) attempt();
  };
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
    onSessionOutput: (text) => {
      output += text;
      changed();
    },
    onSessionEvent: (event) => {
      events.push(event);
      changed();
    },
  });
  /**
   * Wait until `check` on what the agent's hooks reported holds, checked
   * whenever they report something (they run in this process: a
   * dashboard's messages say nothing about when they ran).
   */
  const until = (check: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const attempt = () => {
        if (!check()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `Timed out after 15000 ms waiting for ${what}\nagent log:\n${
              logger.lines.join("\n")
            }`,
          ),
        );
      }, 15_000);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(attempt);
      };
      waiters.add(attempt);
      attempt();
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
    await operator.until(
      () => outputOf(operator, first.commandId).text.includes("got size"),
      { what: "the output at the dashboard" },
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
    await until(
      () =>
        logger.lines.includes(
          "flightdeck-agent: ignored session:restart from someone: the session is running",
        ),
      "the restart request ignored",
    );
    await until(() => output.includes("got after"), "still the same session");
    assert.equal(events.length, 1, "no new session");

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
