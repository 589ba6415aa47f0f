// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * Data folder growth under an output flood, with and without the per-command
 * cap: `deno run -A bench/output_cap.ts [capBytes] [MiB]` starts a real
 * server process (a fresh data folder) and a real agent, runs
 * `yes | head -c <MiB>M`, and prints the folder size before and after.
 * Without `capBytes` the server's default (256 MiB) applies.
 */
import { ServerProcess } from "../tests/faults/server_process.ts";
import { killAgent, startAgent } from "../tests/faults/fixtures.ts";
import {
  queueCommand,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "../tests/helpers.ts";

const cap = Deno.args[0] || undefined;
const mib = Number(Deno.args[1] ?? 100);

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) total += (await Deno.stat(`${dir}/${entry.name}`)).size;
  }
  return total;
}

const server = await ServerProcess.start({
  env: cap ? { FLIGHTDECK_MAX_COMMAND_OUTPUT: cap } : {},
});
const agent = await startAgent(server, "flood-1");
const dash = new TestClient(`${server.wsUrl}/ws/dashboard`, {
  authorization: `Bearer ${await server.token("operator")}`,
});
try {
  await dash.opened();
  await waitAgentStatus(dash, "flood-1", "online");
  const before = await folderBytes(server.dataDir);
  const started = Date.now();
  const id = await queueCommand(dash, {
    agentId: "flood-1",
    command: `yes | head -c ${mib}M`,
  });
  const final = await waitFinal(dash, id, 600_000);
  const after = await folderBytes(server.dataDir);
  const m = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log(
    `RESULT yes | head -c ${mib}M, cap ${cap ?? "default"}: ` +
      `${m(final.outputBytes)} produced, data folder ${m(before)} -> ` +
      `${m(after)}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
} finally {
  await dash.close();
  await killAgent(agent);
  await server.dispose();
}
