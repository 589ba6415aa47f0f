/**
 * One real-client dashboard in its own process, so a test can SIGSTOP it (a
 * consumer that never reads). Environment: `PROBE_WS_URL` (`ws://host:port`),
 * `PROBE_TOKEN`, `PROBE_TIMEOUT_MS` (default 120000). Reads the id of the
 * command to follow as one line on stdin. Prints JSON lines on stdout:
 * `{"event":"ack"}` per (re)connection, `{"event":"close","code":…}` per
 * socket close, and at the end `{"event":"done", …report}` with the SHA-256
 * of everything rendered for the command; then exits (0 when complete).
 *
 * @module
 */
import { createDashboard, reportOf, sha256 } from "./dashboard.ts";

function emit(value: Record<string, unknown>): void {
  Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(value) + "\n"));
}

async function readLine(): Promise<string> {
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (text.includes("\n")) break;
  }
  reader.releaseLock();
  return text.split("\n")[0].trim();
}

if (import.meta.main) {
  const wsUrl = Deno.env.get("PROBE_WS_URL")!;
  const token = Deno.env.get("PROBE_TOKEN")!;
  const timeoutMs = Number(Deno.env.get("PROBE_TIMEOUT_MS") ?? 120_000);
  const dashboard = await createDashboard({ wsUrl, token, name: "probe" });
  let closes = 0;
  dashboard.client.on("connection:ack", () => emit({ event: "ack" }));
  emit({ event: "ack" });
  const closeWatch = setInterval(() => {
    while (closes < dashboard.closes.length) {
      const c = dashboard.closes[closes++];
      emit({ event: "close", code: c.code, reason: c.reason });
    }
  }, 10);
  const commandId = await readLine();
  let ok = true;
  try {
    await dashboard.waitComplete(commandId, timeoutMs);
  } catch (error) {
    ok = false;
    emit({ event: "error", message: String(error) });
  }
  clearInterval(closeWatch);
  while (closes < dashboard.closes.length) {
    const c = dashboard.closes[closes++];
    emit({ event: "close", code: c.code, reason: c.reason });
  }
  const report = reportOf(dashboard, commandId);
  const command = dashboard.command(commandId);
  const order = report.renderOrder;
  emit({
    event: "done",
    ok,
    sha256: await sha256(report.text),
    length: report.text.length,
    chunks: order.length,
    inOrder: order.every((seq, i) => seq === i + 1),
    renderedTwice: report.renderedTwice.length,
    wireDuplicates: report.wireDuplicates,
    missingOnWire: order.filter((seq) =>
      !dashboard.arrivals.get(commandId)?.has(seq)
    ).length,
    hasGap: dashboard.stores.output.hasGap(commandId),
    status: command?.status ?? null,
    exitCode: command?.exitCode ?? null,
    outputBytes: command?.outputBytes ?? null,
    acks: dashboard.acks,
    handlerErrors: dashboard.handlerErrors.map(String),
  });
  dashboard.stop();
  Deno.exit(ok ? 0 : 1);
}
