/**
 * Late joiners through a real server, a real session agent
 * (`--session -- fake_ai_cli.ts`) and dashboards built from the real client
 * code: one dashboard watches the session from its first byte, another opens
 * it after lots of output (transcript, wrapped lines, spinner redraws, a
 * permission dialog on screen) and gets the agent's screen snapshot plus the
 * output after it. Each dashboard's output is fed into its own headless
 * terminal; the two screens are equal line by line, then stay equal while
 * the session goes on live, for a second late joiner that opens it while
 * the program redraws its spinner, and for the first one after its
 * connection dropped and it resumed by seq.
 */
import assert from "node:assert/strict";
import { Screen } from "../lib/agent/screen.ts";
import type { OutputEvent } from "../lib/client/output_store.ts";
import {
  createDashboard,
  type RealDashboard,
  waitUntil,
} from "./faults/dashboard.ts";
import { sendOk, startTestServer, takeControl, TestClient } from "./helpers.ts";
import {
  startSessionAgent,
  waitSession,
  waitSnapshotCurrent,
} from "./session_agent.ts";

const COLS = 100;
const ROWS = 30;

/**
 * A headless terminal fed with what `dashboard`'s output store renders for
 * `commandId`: output and gap markers as they come, and on a snapshot a
 * fresh terminal of its size with the snapshot written first.
 */
class Mirror {
  screen = new Screen(COLS, ROWS, { scrollback: 10_000 });
  snapshots = 0;
  #writes: Promise<void> = Promise.resolve();

  constructor(readonly dashboard: RealDashboard, readonly commandId: string) {
    dashboard.stores.output.subscribe((event: OutputEvent) => {
      if (event.commandId !== commandId) return;
      if (event.kind === "snapshot") {
        const view = dashboard.stores.output.screen(commandId)!;
        const old = this.screen;
        this.#writes = this.#writes.then(() => old.dispose());
        this.screen = new Screen(view.cols, view.rows, { scrollback: 10_000 });
        this.snapshots++;
        this.#write(view.data);
      } else if (event.kind === "output" || event.kind === "gap") {
        this.#write(event.text);
      }
    });
  }

  #write(text: string): void {
    const screen = this.screen;
    this.#writes = this.#writes.then(() => screen.write(text));
  }

  /** Visible rows and cursor once every write so far is parsed. */
  async view(): Promise<{ lines: string[]; cursor: { x: number; y: number } }> {
    await this.#writes;
    return { lines: this.screen.visibleLines(), cursor: this.screen.cursor() };
  }

  dispose(): void {
    void this.#writes.then(() => this.screen.dispose());
  }
}

function activityOf(client: TestClient, agentId: string): string | undefined {
  return client.of("agent:status").findLast((m) => m.agent.id === agentId)
    ?.agent.activity;
}

async function waitActivity(
  client: TestClient,
  agentId: string,
  activity: string,
  from = 0,
): Promise<void> {
  await client.until(
    () =>
      client.of("agent:status").slice(from).some((m) =>
        m.agent.id === agentId && m.agent.activity === activity
      ),
    { what: `${agentId} ${activity}`, timeoutMs: 30_000 },
  );
}

Deno.test("a late joiner gets the current screen (a snapshot and the output after it): equal, line by line, to a dashboard that watched from the start", async () => {
  await using server = await startTestServer({ snapshotMinBytes: 0 });
  const cwd = await Deno.makeTempDir({ prefix: "fd-late-" });
  const operator = await TestClient.dashboard(server, "operator");
  const token = await server.token("viewer");
  const watcher = await createDashboard({
    wsUrl: server.wsUrl,
    token,
    name: "watcher",
  });
  let late: RealDashboard | undefined;
  const lateOnes: RealDashboard[] = [];
  const mirrors: Mirror[] = [];
  const agent = await startSessionAgent(server, "late-1", {
    cwd,
    cols: COLS,
    rows: ROWS,
    cliFlags: ["--work-ms", "400"],
  });
  try {
    const session = await waitSession(operator, "late-1");
    const watched = new Mirror(watcher, session.id);
    mirrors.push(watched);
    await waitActivity(operator, "late-1", "waiting");
    await takeControl(operator, "late-1");

    // Lots of output: pasted prompts of 40 long lines (a transcript that
    // scrolls, a "Done" line wrapping over many rows), each with spinner
    // redraws while it works.
    const paste = (round: number) =>
      Array.from(
        { length: 40 },
        (_, i) => `round ${round} line ${i} ${"lorem ipsum ".repeat(6)}`,
      ).join("\n");
    for (let round = 0; round < 6; round++) {
      const from = operator.of("agent:status").length;
      await sendOk(operator, "terminal:input", {
        agentId: "late-1",
        data: `\x1b[200~${paste(round)}\x1b[201~\r`,
      });
      await waitActivity(operator, "late-1", "working", from);
      await waitActivity(operator, "late-1", "waiting", from);
    }
    // A permission dialog stays on screen.
    const asked = operator.of("agent:status").length;
    await sendOk(operator, "terminal:input", {
      agentId: "late-1",
      data: "write late.txt\r",
    });
    await waitActivity(operator, "late-1", "needs-input", asked);
    assert.equal(activityOf(operator, "late-1"), "needs-input");

    // The screen is quiet now: wait until the server holds a snapshot of
    // all of it, so the late joiner starts from the dialog itself.
    await waitSnapshotCurrent(
      server,
      session.id,
      "a snapshot of the quiet screen",
    );
    const { commands } = server.services;

    const lateOne = late = await createDashboard({
      wsUrl: server.wsUrl,
      token,
      name: "late",
      retryTimeScale: 10,
    });
    const joined = new Mirror(late, session.id);
    mirrors.push(joined);
    assert.equal(late.stores.output.ensure(session.id), true);
    const lastSeq = commands.broadcastSeq(session.id);
    await waitUntil(
      () =>
        late!.stores.output.lastSeq(session.id) === lastSeq &&
        watcher.stores.output.lastSeq(session.id) === lastSeq,
      10_000,
      `both dashboards at seq ${lastSeq}`,
    );
    assert.equal(
      joined.snapshots,
      1,
      "the late joiner started from a snapshot",
    );
    const total = watcher.stores.output.receivedBytes(session.id);
    assert.ok(
      late.stores.output.receivedBytes(session.id) < total / 10,
      `the late joiner replayed almost nothing (${
        late.stores.output.receivedBytes(session.id)
      } of ${total} bytes)`,
    );
    const before = await watched.view();
    assert.match(before.lines.join("\n"), /Do you want to create late\.txt\?/);
    assert.deepEqual(await joined.view(), before);

    // Live from here: answer the dialog. While the program works (spinner
    // redraws), a second late joiner opens the session: its snapshot is
    // older than what was sent live, so it gets the chunks after it from
    // storage, then live ones, with live ones possibly first.
    // The first late joiner's connection drops meanwhile: it resumes by seq.
    lateOne.socket!.close(4000, "test: connection lost");
    const answered = operator.of("agent:status").length;
    await sendOk(operator, "terminal:input", { agentId: "late-1", data: "1" });
    await waitActivity(operator, "late-1", "working", answered);
    const busy = await createDashboard({
      wsUrl: server.wsUrl,
      token,
      name: "busy",
    });
    lateOnes.push(busy);
    const joinedBusy = new Mirror(busy, session.id);
    mirrors.push(joinedBusy);
    busy.stores.output.ensure(session.id);
    await waitActivity(operator, "late-1", "waiting", answered);
    const endSeq = commands.broadcastSeq(session.id);
    await waitUntil(
      () =>
        [lateOne, busy, watcher].every((d) =>
          d.stores.output.lastSeq(session.id) === endSeq
        ),
      10_000,
      `every dashboard at seq ${endSeq}`,
    );
    const after = await watched.view();
    assert.match(after.lines.join("\n"), /Wrote late\.txt/);
    assert.deepEqual(await joined.view(), after);
    assert.deepEqual(await joinedBusy.view(), after);
    // Every chunk after its snapshot rendered once, in order; none before.
    for (const d of [lateOne, busy]) {
      const screenSeq = d.stores.output.screen(session.id)!.seq;
      assert.deepEqual(
        d.renderOrder.get(session.id),
        Array.from(
          { length: endSeq - screenSeq },
          (_, i) => screenSeq + 1 + i,
        ),
        d.name,
      );
    }
    assert.equal(joinedBusy.snapshots, 1);
    assert.equal(lateOne.acks, 2, "the dropped late joiner reconnected once");
    assert.equal(joined.snapshots, 1, "and resumed by seq, not by snapshot");
    assert.ok(
      busy.stores.output.screen(session.id)!.seq <= lastSeq,
      "the busy joiner's snapshot is from before the answer",
    );
  } finally {
    for (const mirror of mirrors) mirror.dispose();
    late?.stop();
    for (const d of lateOnes) d.stop();
    watcher.stop();
    await operator.close();
    await agent.kill();
    await Deno.remove(cwd, { recursive: true });
  }
});
