import { Head } from "$fresh/runtime.ts";
import type { Handlers, PageProps } from "$fresh/server.ts";
import Header from "../components/Header.tsx";
import type {
  PageApp,
  PageQueueEntry,
  PageState,
} from "../components/page_state.ts";
import AgentList from "../islands/AgentList.tsx";
import CommandBar from "../islands/CommandBar.tsx";
import CommandQueue from "../islands/CommandQueue.tsx";
import ConnectionStatus from "../islands/ConnectionStatus.tsx";
import FleetGrid from "../islands/FleetGrid.tsx";
import Terminal from "../islands/Terminal.tsx";
import { type FleetFilter, parseFilter } from "../lib/client/fleet.ts";
import { type SeedTail, TAIL_LINES } from "../lib/client/fleet_tails.ts";
import { TextTail } from "../lib/client/text_tail.ts";
import type { AgentInfo, CommandInfo } from "../lib/protocol.ts";

interface DashboardData {
  agents: AgentInfo[];
  commands: CommandInfo[];
  queues: Record<string, PageQueueEntry[]>;
  selectedAgentId: string | null;
  /** Each agent's latest commands (for the fleet's last results). */
  fleetCommands: CommandInfo[];
  tails: Record<string, SeedTail>;
  filter: FleetFilter;
  now: number;
}

const ORDER = { busy: 0, online: 1, offline: 2 } as const;

/** Commands read per agent for its card: its latest, and the last finished. */
const COMMANDS_PER_AGENT = 5;
/** Stored output read per agent for its card's last lines. */
const TAIL_BYTES = 4096;

/**
 * Agent `agent`'s latest command with output (the running one first) and
 * the last lines of that output.
 */
async function tailFor(
  app: PageApp,
  agent: AgentInfo,
  recent: CommandInfo[],
): Promise<SeedTail | null> {
  const started = recent.filter((c) =>
    c.startedAt !== null && c.kind !== "prompt"
  );
  const command = started.find((c) => c.id === agent.currentCommandId) ??
    started.at(-1);
  if (!command) return null;
  const page = await app.commands.earlierOutput(
    command.id,
    Number.MAX_SAFE_INTEGER,
    TAIL_BYTES,
  );
  if (!page) return { commandId: command.id, toSeq: 0, lines: [] };
  // The page's chunks again, each with its stream, so stderr lines show
  // as such after a reload (the page's data alone does not say).
  const tail = new TextTail(TAIL_LINES);
  for await (
    const chunk of app.commands.outputChunks(
      command.id,
      page.fromSeq - 1,
      page.toSeq,
    )
  ) tail.push(chunk.data, chunk.stream === "stderr");
  return { commandId: command.id, toSeq: page.toSeq, lines: tail.lines() };
}

export const handler: Handlers<DashboardData, PageState> = {
  async GET(req, ctx) {
    const { app } = ctx.state;
    const agents = app.registry.list();
    const commands = await app.commands.listRecent({ limit: 200 });
    const queues = Object.fromEntries(
      agents.map((a) => [a.id, app.commands.queueOf(a.id)]),
    );
    // Selected at first: a busy agent, else an online one, else any.
    const first =
      [...agents].sort((a, b) =>
        ORDER[a.status] - ORDER[b.status] || a.name.localeCompare(b.name)
      )[0];
    const perAgent = await Promise.all(
      agents.map((a) =>
        app.commands.listRecent({ agentId: a.id, limit: COMMANDS_PER_AGENT })
      ),
    );
    const tails: Record<string, SeedTail> = {};
    await Promise.all(agents.map(async (a, i) => {
      const tail = await tailFor(app, a, perAgent[i]);
      if (tail) tails[a.id] = tail;
    }));
    return ctx.render({
      agents,
      commands,
      queues,
      selectedAgentId: first?.id ?? null,
      fleetCommands: perAgent.flat(),
      tails,
      filter: parseFilter(new URL(req.url).searchParams),
      now: Date.now(),
    });
  },
};

/**
 * The dashboard: the fleet overview (every agent at a glance), then the
 * console of the selected agent (agents, command bar, terminal, queue).
 */
export default function Dashboard(
  { data, state }: PageProps<DashboardData, PageState>,
) {
  const role = state.user?.role ?? "viewer";
  const agentId = data.selectedAgentId;
  return (
    <div class="layout">
      <Head>
        <title>Flightdeck</title>
      </Head>
      <Header user={state.user}>
        <ConnectionStatus />
      </Header>
      <div class="fleet-wrap">
        <FleetGrid
          agents={data.agents}
          commands={data.fleetCommands}
          tails={data.tails}
          filter={data.filter}
          now={data.now}
          role={role}
        />
      </div>
      <main class="dashboard" aria-label="Console">
        <aside class="sidebar">
          <AgentList
            agents={data.agents}
            selectedAgentId={agentId}
            role={role}
          />
        </aside>
        <div class="workspace">
          <CommandBar role={role} agentId={agentId} />
          <Terminal agentId={agentId} />
          <CommandQueue
            commands={data.commands}
            queues={data.queues}
            agentId={agentId}
            canOperate={role !== "viewer"}
          />
        </div>
      </main>
    </div>
  );
}
