/**
 * What the fleet overview shows of an agent, through a real server and a
 * real agent process: its tags, working directory and the git state of that
 * directory, refreshed after a command changes it.
 */
import assert from "node:assert/strict";
import type { AgentInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  requestCommand,
  startTestServer,
  TestClient,
} from "./helpers.ts";
import { dirtyRepo } from "./git_repo.ts";

/** The latest state of agent `id` the client received. */
function latest(client: TestClient, id: string): AgentInfo | undefined {
  let last: AgentInfo | undefined;
  for (const m of client.messages) {
    if (m.type === "agent:list") {
      last = m.payload.agents.find((a) => a.id === id) ?? last;
    } else if (m.type === "agent:status" && m.payload.agent.id === id) {
      last = m.payload.agent;
    }
  }
  return last;
}

Deno.test("An agent's tags, cwd and git state reach dashboards; a command that commits makes it clean", async () => {
  const repo = await dirtyRepo();
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "repo-1", [
    "--cwd",
    repo,
    "--tag",
    "gpu",
    "--tag",
    "team:web",
  ]);
  try {
    const online = await dash.until(() => {
      const info = latest(dash, "repo-1");
      return info?.status === "online" ? info : undefined;
    });
    assert.deepEqual(online.tags, ["gpu", "team:web"]);
    assert.equal(online.cwd, repo);
    assert.equal(online.git?.branch, "feature/x");
    assert.equal(online.git?.dirty, true);
    assert.match(online.git?.commit ?? "", /^[0-9a-f]{12}$/);
    const first = online.git!.commit;

    await requestCommand(dash, {
      agentId: "repo-1",
      command: "git commit -qam second && git switch -qc feature/y",
    });
    const clean = await dash.until(() => {
      const info = latest(dash, "repo-1");
      return info?.git?.dirty === false && info.status === "online"
        ? info
        : undefined;
    });
    assert.equal(clean.git?.branch, "feature/y");
    assert.notEqual(clean.git?.commit, first);
    assert.deepEqual(clean.tags, ["gpu", "team:web"]);
  } finally {
    await agent.kill();
    await dash.close();
    await Deno.remove(repo, { recursive: true });
  }
});

Deno.test("An agent with --no-git outside a repository reports no git state", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-norepo-" });
  await using server = await startTestServer();
  const dash = await TestClient.dashboard(server);
  const agent = await AgentProcess.start(server, "plain-1", ["--cwd", dir]);
  const off = await AgentProcess.start(server, "nogit-1", ["--no-git"]);
  try {
    const plain = await dash.until(() => {
      const info = latest(dash, "plain-1");
      return info?.status === "online" ? info : undefined;
    });
    assert.equal("git" in plain, false);
    assert.equal("tags" in plain, false);
    assert.equal(plain.cwd, dir);
    const nogit = await dash.until(() => {
      const info = latest(dash, "nogit-1");
      return info?.status === "online" ? info : undefined;
    });
    // The project folder is a git checkout, yet nothing is reported.
    assert.equal("git" in nogit, false);
  } finally {
    await agent.kill();
    await off.kill();
    await dash.close();
    await Deno.remove(dir, { recursive: true });
  }
});
