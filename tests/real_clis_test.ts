// deno-lint-ignore-file no-console -- says once why the suite is skipped
/**
 * The real AI CLIs (Claude Code, Gemini CLI, Codex CLI) under
 * `deno task agent --type T --session` with a fresh HOME, against a real
 * server: what a dashboard sees on their first screens, with no network and
 * no account. Needs the npm packages `@anthropic-ai/claude-code`,
 * `@google/gemini-cli` and `@openai/codex` installed in
 * `$FLIGHTDECK_REAL_CLIS_DIR` (its `node_modules/.bin` goes first on PATH;
 * `.ci/run` installs them into a cache folder). Without it every test here is
 * skipped with a message.
 *
 * - gemini asks "Do you trust the files in this folder?": `needs-input`, the
 *   question as attention, its three answers as quick answers; the
 *   controller's "1" moves it on to the sign-in choice, again `needs-input`.
 * - codex asks how to sign in: `needs-input` with its three choices.
 * - claude, never signed in, checks its connection, shows "Unable to connect
 *   to Anthropic services" and exits 1: `working` while it shows its
 *   screens, then the session ends `failed` with exit code 1 and the agent,
 *   running nothing, reports `waiting` (nothing waits for a person, so never
 *   `needs-input`).
 * - claude with an API key and finished onboarding (seeded in the fresh
 *   HOME) reaches its prompt: the wrapper's hooks report the prompt's turn
 *   (`UserPromptSubmit` → `working`, `StopFailure` → `waiting` when the API
 *   cannot be reached), and the user's own hook in `~/.claude/settings.json`
 *   runs too.
 */
import assert from "node:assert/strict";
import { Screen } from "../lib/agent/screen.ts";
import type { AgentInfo, CommandInfo } from "../lib/protocol.ts";
import {
  AgentProcess,
  outputOf,
  sendOk,
  startTestServer,
  takeControl,
  TestClient,
  type TestServer,
  waitFinal,
} from "./helpers.ts";
import { labelsSeen, waitLabel } from "./session_agent.ts";

const DIR = Deno.env.get("FLIGHTDECK_REAL_CLIS_DIR");
const BIN = DIR ? `${DIR}/node_modules/.bin` : "";
const missing = !DIR
  ? "FLIGHTDECK_REAL_CLIS_DIR is not set"
  : ["claude", "gemini", "codex"].find((name) => {
    try {
      return !Deno.statSync(`${BIN}/${name}`).isFile;
    } catch {
      return true;
    }
  });
if (missing) {
  console.log(
    `real_clis_test.ts: skipped (${
      missing.includes(" ") ? missing : `${BIN}/${missing} not found`
    }); install the CLIs with: npm install --prefix DIR ` +
      "@anthropic-ai/claude-code @google/gemini-cli @openai/codex, then " +
      "set FLIGHTDECK_REAL_CLIS_DIR=DIR",
  );
}
const ignore = Boolean(missing);
/** Real CLIs start in seconds, not milliseconds. */
const SLOW_MS = 60_000;

const seenBy = (client: TestClient, agentId: string) =>
  labelsSeen(client, agentId, labelOf);
const waitSeen = (client: TestClient, agentId: string, label: string) =>
  waitLabel(client, agentId, label, labelOf, SLOW_MS);

function labelOf(agent: AgentInfo): string {
  const keys = agent.options?.map((o) => `${o.key}=${o.label}`).join(", ");
  return [agent.activity, agent.attention ?? "", keys ?? ""].filter(Boolean)
    .join(" | ");
}

function sessionOf(client: TestClient, agentId: string): Promise<CommandInfo> {
  return client.until(
    () =>
      client.of("command:status").map((m) => m.command).find((c) =>
        c.agentId === agentId && c.kind === "session"
      ),
    { what: `a session of ${agentId}`, timeoutMs: SLOW_MS },
  );
}

/** A fresh HOME and a project folder inside it. */
async function freshHome(): Promise<{ home: string; cwd: string }> {
  const home = await Deno.makeTempDir({ prefix: "fd-real-home-" });
  const cwd = `${home}/project`;
  await Deno.mkdir(cwd);
  return { home, cwd };
}

async function startAgent(
  server: TestServer,
  id: string,
  type: string,
  home: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<AgentProcess> {
  const token = await server.token("agent", id);
  return new AgentProcess([
    "--server",
    server.url,
    "--name",
    id,
    "--type",
    type,
    "--cwd",
    cwd,
    "--cols",
    "120",
    "--rows",
    "40",
    "--session",
  ], {
    // Not the CI runner's variables: Gemini CLI (and others) see `CI` and
    // run non-interactively, which is not what a session operator gets.
    ...Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([name]) =>
        !/^(CI|CI_.*|CONTINUOUS_INTEGRATION|BUILD_NUMBER|RUN_ID|GITHUB_ACTIONS)$/
          .test(name)
      ),
    ),
    FLIGHTDECK_TOKEN: token,
    // The agent's own Deno cache stays where it is (it defaults to HOME's).
    DENO_DIR: Deno.env.get("DENO_DIR") ??
      `${Deno.env.get("HOME")}/.cache/deno`,
    HOME: home,
    PATH: `${BIN}:${Deno.env.get("PATH") ?? ""}`,
    // No account, no network: nothing must try to phone out for long.
    NO_BROWSER: "1",
    ...env,
  }, { clearEnv: true });
}

/** Run `fn` with a server, an agent of `type` and a dashboard. */
async function withCli(
  type: string,
  fn: (ctx: {
    operator: TestClient;
    agent: AgentProcess;
    id: string;
    home: string;
    cwd: string;
  }) => Promise<void>,
  seed?: (home: string, cwd: string) => Promise<Record<string, string>>,
) {
  const server = await startTestServer();
  const { home, cwd } = await freshHome();
  const env = seed ? await seed(home, cwd) : {};
  const id = `real-${type}`;
  const agent = await startAgent(server, id, type, home, cwd, env);
  let operator: TestClient | undefined;
  try {
    operator = await TestClient.dashboard(server, "operator");
    await fn({ operator, agent, id, home, cwd });
  } catch (error) {
    throw new Error(`${error}\nagent stderr:\n${agent.stderr}`);
  } finally {
    await operator?.close();
    await agent.kill();
    await server.shutdown();
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test({
  name:
    "real gemini: the trust question is needs-input with its answers; the controller's 1 moves on to the sign-in choice",
  ignore,
  async fn() {
    await withCli("gemini", async ({ operator, id, home }) => {
      await sessionOf(operator, id);
      const trust = "needs-input | Do you trust the files in this folder? | " +
        `1=Trust folder (project), 2=Trust parent folder (${
          home.split("/").at(-1)
        }), 3=Don't trust`;
      await waitSeen(operator, id, trust);
      await takeControl(operator, id);
      await sendOk(operator, "terminal:input", { agentId: id, data: "1" });
      await waitSeen(
        operator,
        id,
        "needs-input | How would you like to authenticate for this project? | " +
          "1=Sign in with Google, 2=Use Gemini API Key, 3=Vertex AI",
      );
    });
  },
});

Deno.test({
  name: "real codex: the sign-in choice is needs-input with its answers",
  ignore,
  async fn() {
    await withCli("codex", async ({ operator, id }) => {
      await sessionOf(operator, id);
      await waitSeen(
        operator,
        id,
        "needs-input | Choose how you want to use Codex. | " +
          "1=Sign in with ChatGPT, 2=Sign in with Device Code, " +
          "3=Sign in another way",
      );
    });
  },
});

Deno.test({
  name:
    "real claude, never signed in: the connection error ends the session failed with exit code 1",
  ignore,
  async fn() {
    await withCli("claude", async ({ operator, id }) => {
      const session = await sessionOf(operator, id);
      assert.equal(session.command, "claude");
      const final = await waitFinal(operator, session.id, SLOW_MS);
      assert.deepEqual([final.status, final.exitCode], ["failed", 1]);
      operator.send("terminal:resume", { commandId: session.id, afterSeq: 0 });
      // Its last words are a link to the supported countries.
      await operator.until(
        () => outputOf(operator, session.id).text.includes("countries"),
        { what: "the session's output", timeoutMs: SLOW_MS },
      );
      // Read it as a terminal shows it (Ink moves the cursor between words).
      const screen = new Screen(120, 40);
      await screen.write(outputOf(operator, session.id).text);
      const rows = screen.lines(40).map((row) => row.trim());
      screen.dispose();
      assert.ok(
        rows.includes("Unable to connect to Anthropic services"),
        rows.join("\n"),
      );
      // Nothing ever asked a person: working while its screens showed;
      // once the session is over the agent reports no activity, only how
      // its session ended.
      const ended = await operator.until(
        () =>
          operator.of("agent:status").findLast((m) => m.agent.id === id)
            ?.agent.ended,
        { what: "the agent's ended session" },
      );
      assert.deepEqual(ended, {
        commandId: session.id,
        status: "failed",
        exitCode: 1,
      });
      assert.deepEqual(seenBy(operator, id), ["working"]);
      const last = operator.of("agent:status").findLast((m) =>
        m.agent.id === id
      );
      assert.equal(last?.agent.activity, undefined);
    });
  },
});

Deno.test({
  name:
    "real claude at its prompt: the wrapper's hooks report a turn (UserPromptSubmit working, StopFailure waiting)",
  ignore,
  async fn() {
    const key = "sk-ant-api03-flightdeck-test-key-0000000000";
    await withCli("claude", async ({ operator, agent, id, home }) => {
      await sessionOf(operator, id);
      await waitSeen(operator, id, "waiting");
      await takeControl(operator, id);
      await sendOk(operator, "terminal:input", {
        agentId: id,
        data: "say hi",
      });
      await sendOk(operator, "terminal:input", { agentId: id, data: "\r" });
      await agent.waitStderr("claude hooks: first event", SLOW_MS);
      assert.match(
        agent.stderr,
        /claude hooks: first event UserPromptSubmit received/,
      );
      await waitSeen(operator, id, "working");
      // No API to reach: the turn ends with StopFailure, back at the prompt.
      await waitSeen(operator, id, "waiting");
      // The user's own hook (~/.claude/settings.json) ran as well.
      const mine = JSON.parse(await Deno.readTextFile(`${home}/mine.json`));
      assert.deepEqual([mine.hook_event_name, mine.prompt], [
        "UserPromptSubmit",
        "say hi",
      ]);
    }, async (home, cwd) => {
      await Deno.mkdir(`${home}/.claude`);
      await Deno.writeTextFile(
        `${home}/.claude/settings.json`,
        JSON.stringify({
          hooks: {
            UserPromptSubmit: [{
              hooks: [{ type: "command", command: `cat > ${home}/mine.json` }],
            }],
          },
        }),
      );
      // Onboarding done, the folder trusted and the key approved, as after a
      // first run; the API is a closed port so the turn fails at once.
      await Deno.writeTextFile(
        `${home}/.claude.json`,
        JSON.stringify({
          hasCompletedOnboarding: true,
          customApiKeyResponses: { approved: [key.slice(-20)], rejected: [] },
          projects: { [cwd]: { hasTrustDialogAccepted: true } },
        }),
      );
      return {
        ANTHROPIC_API_KEY: key,
        ANTHROPIC_BASE_URL: "http://127.0.0.1:9",
        CLAUDE_CODE_MAX_RETRIES: "0",
        DISABLE_AUTOUPDATER: "1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      };
    });
  },
});
