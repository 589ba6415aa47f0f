/**
 * Control of a live session through a real server, a real agent process
 * (`--type claude --session -- <fake CLI>`) and three dashboards (two
 * operators, a viewer): a viewer's input is `FORBIDDEN`, another operator's
 * is `NOT_CONTROLLER` until it takes control, and neither reaches the
 * program; everyone sees each holder change; the controller's resize
 * reaches the program (it prints its size on SIGWINCH) and its typing does.
 */
import assert from "node:assert/strict";
import {
  errorReply,
  outputOf,
  rawOf,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
} from "./helpers.ts";
import { startSessionAgent, waitSession } from "./session_agent.ts";

const AGENT = "ctl-1";

/** Send `type`; the code of the error answering it, or null (after an echo). */
async function errorCode(
  client: TestClient,
  type: string,
  payload: unknown,
): Promise<string | null> {
  const error = await errorReply(client, type, payload);
  return error ? String(error.payload.code) : null;
}

/** The connection id of `client` (from its `connection:ack`). */
function connectionOf(client: TestClient): string {
  return String(rawOf(client, "connection:ack")[0].payload.connectionId);
}

/** The holders of AGENT's terminal `client` was told about, in order. */
function holdersSeen(client: TestClient): (string | null)[] {
  return rawOf(client, "session:controller")
    .filter((m) => m.payload.agentId === AGENT)
    .map((m) => {
      const holder = m.payload.holder as { connectionId: string } | null;
      return holder ? holder.connectionId : null;
    });
}

Deno.test("a live session: viewer input FORBIDDEN, another operator's NOT_CONTROLLER until it takes control, neither reaches the program; everyone sees each holder; resize and typing reach it", async () => {
  await using server = await startTestServer();
  const cwd = await Deno.makeTempDir({ prefix: "fd-control-" });
  const agent = await startSessionAgent(server, AGENT, {
    cwd,
    cols: 100,
    rows: 30,
    cliFlags: ["--work-ms", "200"],
  });
  const clients: TestClient[] = [];
  try {
    const a = await TestClient.dashboard(server, "operator");
    const b = await TestClient.dashboard(server, "operator");
    const viewer = await TestClient.dashboard(server, "viewer");
    clients.push(a, b, viewer);
    const session = await waitSession(a, AGENT);
    const output = () => outputOf(a, session.id).text;
    await a.until(() => output().includes("? for shortcuts"), {
      what: "the input box",
    });

    await takeControl(a, AGENT);
    const input = (data: string) => ({ agentId: AGENT, data });
    assert.equal(
      await errorCode(b, "terminal:input", input("zzz-from-b")),
      "NOT_CONTROLLER",
    );
    assert.equal(
      await errorCode(b, "terminal:resize", {
        agentId: AGENT,
        cols: 50,
        rows: 9,
      }),
      "NOT_CONTROLLER",
    );
    assert.equal(
      await errorCode(viewer, "terminal:input", input("zzz-from-viewer")),
      "FORBIDDEN",
    );
    assert.equal(
      await errorCode(viewer, "session:control", {
        agentId: AGENT,
        take: true,
      }),
      "FORBIDDEN",
    );
    // Another operator may not take it while it is held.
    assert.equal(
      await errorCode(b, "session:control", { agentId: AGENT, take: true }),
      "NOT_CONTROLLER",
    );

    // The controller's resize and typing reach the program.
    await sendOk(a, "terminal:resize", { agentId: AGENT, cols: 77, rows: 21 });
    await a.until(() => output().includes("[size 77x21]"), {
      what: "the program's new size",
    });
    await sendOk(a, "terminal:input", input("hello-a\r"));
    await a.until(() => output().includes("Done: hello-a"), {
      what: "the controller's prompt done",
    });

    // Released, then taken by the other operator: its typing reaches it.
    await sendOk(a, "session:control", { agentId: AGENT, take: false });
    await takeControl(b, AGENT);
    assert.equal(
      await errorCode(a, "terminal:input", input("zzz-from-a")),
      "NOT_CONTROLLER",
    );
    await sendOk(b, "terminal:input", input("hello-b\r"));
    await a.until(() => output().includes("Done: hello-b"), {
      what: "the new controller's prompt done",
    });

    // Every dashboard saw the same holders, in order.
    const expected = [connectionOf(a), null, connectionOf(b)];
    for (const client of clients) {
      await client.until(() => holdersSeen(client).length >= 3, {
        what: "three holder changes",
      });
      assert.deepEqual(holdersSeen(client).slice(-3), expected);
    }
    // Refused input never reached the program; the sizes it saw were the
    // controller's only.
    assert.doesNotMatch(output(), /zzz/);
    assert.deepEqual(
      [...output().matchAll(/\[size (\d+x\d+)\]/g)].map((m) => m[1]),
      ["77x21"],
    );
  } finally {
    for (const client of clients) await client.close();
    await agent.kill();
    await Deno.remove(cwd, { recursive: true });
  }
});
