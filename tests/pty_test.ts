/** An agent in PTY mode through the real server: a TTY, its size, one `pty` stream. */
import assert from "node:assert/strict";
import {
  AgentProcess,
  outputOf,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

Deno.test("pty: a command under an agent with --pty sees a terminal of the given size", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "pty-1", [
    "--pty",
    "--cols",
    "77",
    "--rows",
    "21",
  ]);
  try {
    await waitAgentStatus(dash, "pty-1", "online");
    const id = await queueCommand(dash, {
      agentId: "pty-1",
      command:
        "test -t 1 && echo tty; stty size; printf '\\033[31mé€\\033[0m\\n'; echo err >&2; exit 3",
    });
    const final = await waitFinal(dash, id);
    assert.deepEqual([final.status, final.exitCode], ["failed", 3]);
    const chunks = dash.of("terminal:output").filter((c) => c.commandId === id);
    assert.deepEqual(new Set(chunks.map((c) => c.stream)), new Set(["pty"]));
    const { text, seqs } = outputOf(dash, id);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
    assert.equal(text, "tty\r\n21 77\r\n\x1b[31mé€\x1b[0m\r\nerr\r\n");
    const info = server.services.registry.get("pty-1");
    assert.ok(
      info?.capabilities.includes("pty"),
      JSON.stringify(info?.capabilities),
    );
  } finally {
    await agent.kill();
    await dash.close();
  }
});
