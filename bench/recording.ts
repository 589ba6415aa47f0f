// deno-lint-ignore-file no-console -- CLI entry point: stdout is its interface
/**
 * Recording downloads of a large session: `deno run -A bench/recording.ts
 * [MiB]` (default 100) starts a real server process (a fresh data folder)
 * and a real agent, runs a command printing MiB of colored lines with `\r`
 * progress, then downloads its `.cast` and `.txt` once each and prints the
 * time to the first byte, the total time, the size, and the server's
 * resident memory before and at its peak during the downloads.
 */
import { ServerProcess } from "../tests/faults/server_process.ts";
import { killAgent, startAgent } from "../tests/faults/fixtures.ts";
import {
  queueCommand,
  TestClient,
  waitAgentStatus,
  waitFinal,
} from "../tests/helpers.ts";

const mib = Number(Deno.args[0] ?? 100);
const m = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

const server = await ServerProcess.start({});
const agent = await startAgent(server, "rec-bench");
const dash = new TestClient(`${server.wsUrl}/ws/dashboard`, {
  authorization: `Bearer ${await server.token("operator")}`,
});
try {
  await dash.opened();
  await waitAgentStatus(dash, "rec-bench", "online");
  const id = await queueCommand(dash, {
    agentId: "rec-bench",
    command:
      `yes "$(printf '\\033[32mINFO\\033[0m step 1%%\\r\\033[Kstep 2 done')" | head -c ${mib}M`,
  });
  const final = await waitFinal(dash, id, 900_000);
  console.log(`RESULT output ${m(final.outputBytes)}`);
  const token = await server.token("viewer");
  for (const format of ["cast", "txt"]) {
    const rssBefore = server.rssBytes();
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rssBytes());
    }, 50);
    const started = performance.now();
    const response = await fetch(
      `${server.url}/api/commands/${id}/recording?format=${format}`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    const reader = response.body!.getReader();
    let bytes = 0;
    let firstByteMs = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (bytes === 0) firstByteMs = performance.now() - started;
      bytes += value.length;
    }
    const totalMs = performance.now() - started;
    clearInterval(sampler);
    console.log(
      `RESULT ${format}: ${m(bytes)}, first byte ${
        firstByteMs.toFixed(0)
      } ms, ` +
        `all ${(totalMs / 1000).toFixed(1)} s (${
          (bytes / 1048576 / (totalMs / 1000)).toFixed(0)
        } MiB/s), server RSS ${m(rssBefore)} before, ${m(peak)} peak`,
    );
  }
} finally {
  await dash.close();
  await killAgent(agent);
  await server.dispose();
}
