/**
 * Runs {@link ./dashboard_probe.ts} as a subprocess and parses its JSON lines.
 *
 * @module
 */
import { ROOT } from "../helpers.ts";
import { waitUntil } from "./dashboard.ts";

/** The final report of a probe. */
export interface ProbeReport {
  ok: boolean;
  sha256: string;
  length: number;
  chunks: number;
  inOrder: boolean;
  renderedTwice: number;
  wireDuplicates: number;
  missingOnWire: number;
  hasGap: boolean;
  status: string | null;
  exitCode: number | null;
  outputBytes: number | null;
  acks: number;
  handlerErrors: string[];
}

/** A dashboard probe subprocess. */
export class ProbeProcess {
  readonly child: Deno.ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  stderr = "";
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pumps: Promise<void>[];

  constructor(wsUrl: string, token: string, timeoutMs = 120_000) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}tests/faults/dashboard_probe.ts`],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: {
        NO_PROXY: "127.0.0.1,localhost",
        PROBE_WS_URL: wsUrl,
        PROBE_TOKEN: token,
        PROBE_TIMEOUT_MS: String(timeoutMs),
      },
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    this.#pumps = [
      this.#lines(this.child.stdout, (line) => {
        try {
          this.events.push(JSON.parse(line));
        } catch {
          this.stderr += `${line}\n`;
        }
      }),
      this.#lines(this.child.stderr, (line) => this.stderr += `${line}\n`),
    ];
  }

  async #lines(
    stream: ReadableStream<Uint8Array<ArrayBuffer>>,
    onLine: (line: string) => void,
  ): Promise<void> {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let at;
        while ((at = buffer.indexOf("\n")) >= 0) {
          onLine(buffer.slice(0, at));
          buffer = buffer.slice(at + 1);
        }
      }
    } catch {
      // Killed.
    }
    if (buffer) onLine(buffer);
  }

  /** Number of `ack` events so far. */
  get acks(): number {
    return this.events.filter((e) => e.event === "ack").length;
  }

  /** Close codes seen so far. */
  get closeCodes(): number[] {
    return this.events.filter((e) => e.event === "close").map((e) =>
      e.code as number
    );
  }

  /** Wait for the first connection:ack. */
  async ready(timeoutMs = 15_000): Promise<void> {
    await waitUntil(
      () => this.acks > 0,
      timeoutMs,
      "probe connected",
      () => this.stderr,
    );
  }

  /** Tell the probe which command to follow. */
  async follow(commandId: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${commandId}\n`));
  }

  signal(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // Gone.
    }
  }

  /** Wait for the final report (bounded). */
  async report(timeoutMs = 60_000): Promise<ProbeReport> {
    const done = await waitUntil(
      () => this.events.find((e) => e.event === "done"),
      timeoutMs,
      "probe report",
      () => `${JSON.stringify(this.events.slice(-5))} ${this.stderr}`,
    );
    return done as unknown as ProbeReport;
  }

  /** Kill (after SIGCONT) and wait for the exit and the pipes. */
  async dispose(): Promise<void> {
    this.signal("SIGCONT");
    this.signal("SIGKILL");
    await this.#stdin.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([this.child.status, ...this.#pumps]),
      new Promise((r) => timer = setTimeout(r, 5_000)),
    ]);
    clearTimeout(timer);
  }
}

export { sha256 } from "./dashboard.ts";
