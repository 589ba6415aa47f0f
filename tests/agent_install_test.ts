/**
 * The onboarding page's install line, run as shown (into a temporary
 * root), gives a `flightdeck-agent` command that connects to a server with
 * the token from the environment and runs a command.
 */
import assert from "node:assert/strict";
import { agentOnboarding } from "../lib/server/onboarding.ts";
import {
  outputOf,
  queueCommand,
  ROOT,
  startTestServer,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "./helpers.ts";

Deno.test("The installed flightdeck-agent command (temporary root) connects with FLIGHTDECK_TOKEN and runs a command", async () => {
  await using server = await startTestServer();
  const { token } = await server.services.tokens.mint({
    role: "agent",
    agentId: "inst-1",
    ttlSeconds: 3600,
  }, "carol");
  const onboarding = agentOnboarding("inst-1", token, server.url);
  const root = await Deno.makeTempDir({ prefix: "fd-install-" });
  // Exactly the line shown, with a temporary root.
  const [deno, install, global, ...rest] = onboarding.install.split(" ");
  assert.deepEqual([deno, install, global], ["deno", "install", "--global"]);
  const installed = await new Deno.Command(Deno.execPath(), {
    args: [install, global, "--root", root, ...rest],
    cwd: ROOT,
    stdin: "null",
  }).output();
  assert.equal(
    installed.code,
    0,
    new TextDecoder().decode(installed.stderr),
  );
  const client = await TestClient.dashboard(server, "operator");
  const agent = new Deno.Command(`${root}/bin/flightdeck-agent`, {
    args: ["--name", "inst-1"],
    cwd: root,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: {
      NO_PROXY: "127.0.0.1,localhost",
      PATH: `${Deno.execPath().replace(/\/[^/]+$/, "")}:${
        Deno.env.get("PATH") ?? ""
      }`,
      FLIGHTDECK_SERVER: server.url,
      FLIGHTDECK_TOKEN: token,
    },
  }).spawn();
  try {
    await waitAgentStatus(client, "inst-1", "online", 30_000);
    const id = await queueCommand(client, {
      agentId: "inst-1",
      command: "echo installed-ok",
    });
    const final = await waitFinal(client, id);
    assert.equal(final.status, "completed");
    assert.match(outputOf(client, id).text, /installed-ok/);
  } finally {
    agent.kill("SIGTERM");
    await agent.status;
    await client.close();
    await Deno.remove(root, { recursive: true });
  }
});
