/**
 * `--waiting-pattern`, `--input-pattern` and `--stall-after` through a real
 * server and real agent processes: the same program is read differently
 * with and without them, and every dashboard sees the result.
 */
import assert from "node:assert/strict";
import type { AgentInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
} from "./helpers.ts";
import { labelsSeen, waitLabel } from "./session_agent.ts";

/** A program with its own prompt, its own question, then a long silence. */
const PROGRAM = [
  "bash",
  "-c",
  'printf "READY> "; read a; echo "got $a"; ' +
  'printf "Proceed? (yes/no) "; read b; echo "ok $b"; sleep 60',
];

/** `activity` (`activity: attention` with an attention), per change seen. */
function activityLabel(agent: AgentInfo): string {
  return agent.attention
    ? `${agent.activity}: ${agent.attention}`
    : agent.activity!;
}
const activitiesSeen = (client: TestClient, agentId: string) =>
  labelsSeen(client, agentId, activityLabel);
const waitActivity = (client: TestClient, agentId: string, label: string) =>
  waitLabel(client, agentId, label, activityLabel, 20_000);

Deno.test("--waiting-pattern, --input-pattern and --stall-after decide the session's activity", async () => {
  const server = await startTestServer();
  const tuned = await AgentProcess.start(server, "fl-tuned", [
    "--session",
    "--waiting-pattern",
    "^READY>",
    "--input-pattern",
    // Rows are read trimmed: "$" is the end of the text on the row, so the
    // row stops matching once it holds the answer.
    "^Proceed\\? \\(yes/no\\)$",
    "--stall-after",
    "1s",
    "--",
    ...PROGRAM,
  ]);
  const plain = await AgentProcess.start(server, "fl-plain", [
    "--session",
    "--",
    ...PROGRAM,
  ]);
  const operator = await TestClient.dashboard(server, "operator");
  try {
    // Without the flags the shell detector reads "READY> " as a question.
    await waitActivity(operator, "fl-plain", "needs-input: READY>");
    // With them it is the program's idle prompt.
    await waitActivity(operator, "fl-tuned", "waiting");

    await takeControl(operator, "fl-tuned");
    await sendOk(operator, "terminal:input", {
      agentId: "fl-tuned",
      data: "hi\r",
    });
    // "(yes/no)" is no question to the shell detector; the input pattern
    // makes it one, with the matching row as the question.
    await waitActivity(
      operator,
      "fl-tuned",
      "needs-input: Proceed? (yes/no)",
    );
    await sendOk(operator, "terminal:input", {
      agentId: "fl-tuned",
      data: "yes\r",
    });
    // Then nothing moves on screen for 1 s: stalled.
    await waitActivity(operator, "fl-tuned", "stalled");
    const seen = activitiesSeen(operator, "fl-tuned");
    // (Between "hi" and the question the screen may not hold still long
    // enough for a "working" of its own.)
    assert.deepEqual(
      seen.slice(seen.indexOf("needs-input: Proceed? (yes/no)")),
      ["needs-input: Proceed? (yes/no)", "working", "stalled"],
    );
    assert.equal(seen[0], "working");
    assert.equal(seen.indexOf("waiting"), 1);
  } finally {
    await operator.close();
    await tuned.kill();
    await plain.kill();
    await server.shutdown();
  }
});
