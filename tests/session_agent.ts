/**
 * Session agents for tests: a real agent process in session mode
 * (`--session -- <program>`, by default the fake Claude-like CLI) and the
 * wait for its running session record; the activity a dashboard was told
 * of, as labels or states; the wait for a server snapshot of all of a session's
 * output.
 *
 * @module
 */
import type { AgentInfo, CommandInfo } from "../lib/protocol.ts";
import { fakeCliArgv } from "./fixtures/fake_ai_cli_driver.ts";
import { waitUntil } from "./faults/dashboard.ts";
import { AgentProcess, type TestClient, type TestServer } from "./helpers.ts";

/** Options of {@link startSessionAgent}. */
export interface SessionAgentOptions {
  /** `--type` (default `claude`). */
  type?: string;
  /** `--cwd`; the agent's default when left out. */
  cwd?: string;
  /** `--cols` and `--rows`; the agent's defaults when left out. */
  cols?: number;
  rows?: number;
  /** Flags of the fake CLI (`fake_ai_cli.ts`), when `program` is left out. */
  cliFlags?: string[];
  /** The program after `--` (default: the fake CLI with `cliFlags`). */
  program?: string[];
  /** More agent flags, before `--session`. */
  extraArgs?: string[];
}

/** The agent flags {@link startSessionAgent} passes. */
export function sessionAgentArgs(options: SessionAgentOptions = {}): string[] {
  const { cwd, cols, rows } = options;
  return [
    "--type",
    options.type ?? "claude",
    ...(cwd === undefined ? [] : ["--cwd", cwd]),
    ...(cols === undefined ? [] : ["--cols", String(cols)]),
    ...(rows === undefined ? [] : ["--rows", String(rows)]),
    ...options.extraArgs ?? [],
    "--session",
    "--",
    ...options.program ?? fakeCliArgv(options.cliFlags),
  ];
}

/** Start agent `id` of `server` in session mode (see {@link SessionAgentOptions}). */
export function startSessionAgent(
  server: Pick<TestServer, "url" | "token">,
  id: string,
  options: SessionAgentOptions = {},
): Promise<AgentProcess> {
  return AgentProcess.start(server, id, sessionAgentArgs(options));
}

/** The first running session record of `agentId` that `client` is told about. */
export function waitSession(
  client: TestClient,
  agentId: string,
): Promise<CommandInfo> {
  return client.until(
    () =>
      client.of("command:status").map((m) => m.command).find((c) =>
        c.agentId === agentId && c.kind === "session" &&
        c.status === "running"
      ),
    { what: `a running session of ${agentId}` },
  );
}

/**
 * `label(agent)` at each status of `agentId` with an activity that `client`
 * was told about, a repeated label once.
 */
export function labelsSeen(
  client: TestClient,
  agentId: string,
  label: (agent: AgentInfo) => string,
): string[] {
  const out: string[] = [];
  for (const m of client.of("agent:status")) {
    if (m.agent.id !== agentId || m.agent.activity === undefined) continue;
    const next = label(m.agent);
    if (out.at(-1) !== next) out.push(next);
  }
  return out;
}

/** Wait until the last of {@link labelsSeen} is `want`; a timeout lists what was seen. */
export async function waitLabel(
  client: TestClient,
  agentId: string,
  want: string,
  label: (agent: AgentInfo) => string,
  timeoutMs?: number,
): Promise<void> {
  try {
    await client.until(
      () => labelsSeen(client, agentId, label).at(-1) === want,
      { what: `${agentId}: ${want}`, timeoutMs },
    );
  } catch (error) {
    const seen = labelsSeen(client, agentId, label).join(" ; ");
    throw new Error(`${error} (seen: ${seen})`);
  }
}

/**
 * Wait until `server` holds a screen snapshot of session `commandId` that
 * covers every chunk of output it has sent.
 */
export async function waitSnapshotCurrent(
  server: Pick<TestServer, "services">,
  commandId: string,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const { commands } = server.services;
  await waitUntil(
    () =>
      commands.latestScreen(commandId)?.seq ===
        commands.broadcastSeq(commandId),
    timeoutMs,
    what,
  );
}

/** Every state of `agentId` `client` was told about (lists and statuses), in order. */
export function statesOf(client: TestClient, agentId: string): AgentInfo[] {
  const states: AgentInfo[] = [];
  for (const m of client.messages) {
    if (m.type === "agent:list") {
      const a = m.payload.agents.find((a) => a.id === agentId);
      if (a) states.push(a);
    } else if (m.type === "agent:status" && m.payload.agent.id === agentId) {
      states.push(m.payload.agent);
    }
  }
  return states;
}

/** Wait until the last state of `agentId` `client` was told about has `activity`. */
export async function waitActivity(
  client: TestClient,
  agentId: string,
  activity: string,
): Promise<void> {
  await client.until(
    () => statesOf(client, agentId).at(-1)?.activity === activity,
    { what: `${agentId} ${activity}`, timeoutMs: 20_000 },
  );
}
