/**
 * An agent stopped by SIGTERM while a command runs and another is queued,
 * through a real server, dashboard and agent processes: the running command
 * ends `interrupted`, the queued one is not started by the stopping agent
 * (it stays `queued`) and runs when an agent with that id connects again.
 */
import assert from "node:assert/strict";
import {
  AgentProcess,
  broadcastBarrier,
  queueCommand,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitStatus,
} from "./helpers.ts";

Deno.test({
  name:
    "a stopping agent does not start the next queued command; it stays queued and runs on the next connection",
  // The agent processes' stderr readers end with the processes.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startTestServer();
    const dir = await Deno.makeTempDir({ prefix: "fd-stopq-" });
    const dash = await TestClient.dashboard(server, "admin");
    let agent: AgentProcess | undefined;
    try {
      agent = await AgentProcess.start(server, "sq-1", ["--type", "shell"]);
      await waitAgentStatus(dash, "sq-1", "online", 20_000);
      const running = await queueCommand(dash, {
        agentId: "sq-1",
        command: "sleep 60",
      });
      await waitStatus(dash, running, "running", 20_000);
      const queued = await queueCommand(dash, {
        agentId: "sq-1",
        command: `echo ran > ${dir}/ran.txt`,
      });
      await agent.kill("SIGTERM");
      assert.equal((await agent.status).code, 0);
      agent = undefined;
      await waitAgentStatus(dash, "sq-1", "offline");
      await broadcastBarrier(server, dash);
      assert.equal(
        dash.of("command:status").findLast((s) => s.command.id === running)
          ?.command.status,
        "interrupted",
      );
      assert.deepEqual(
        dash.of("command:status").filter((s) => s.command.id === queued)
          .map((s) => s.command.status),
        ["queued"],
      );
      await assert.rejects(Deno.stat(`${dir}/ran.txt`), Deno.errors.NotFound);
      // The next connection runs it.
      agent = await AgentProcess.start(server, "sq-1", ["--type", "shell"]);
      await waitStatus(dash, queued, "completed", 20_000);
      assert.equal(await Deno.readTextFile(`${dir}/ran.txt`), "ran\n");
    } finally {
      await agent?.kill("SIGTERM");
      await dash.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
