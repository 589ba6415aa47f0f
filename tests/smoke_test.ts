import assert from "node:assert/strict";
import {
  AgentProcess,
  outputOf,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

Deno.test("smoke: command runs end to end", async () => {
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "build-1");
  try {
    await waitAgentStatus(dash, "build-1", "online");
    dash.send("command:request", {
      agentId: "build-1",
      command: "printf 'a\\033[31mred\\033[0m €\\n'; echo done",
    }, "r1");
    const reply = await dash.waitFor((m) =>
      m.type === "command:status" && m.payload.replyTo === "r1"
    );
    assert.equal(reply.type, "command:status");
    const id = reply.type === "command:status" ? reply.payload.command.id : "";
    const final = await waitFinal(dash, id);
    assert.equal(final.status, "completed");
    const out = outputOf(dash, id);
    assert.equal(out.text, "a\x1b[31mred\x1b[0m €\ndone\n");
  } finally {
    await agent.kill();
    await dash.close();
    console.log(agent.stderr);
  }
});
