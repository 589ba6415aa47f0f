import { Head } from "$fresh/runtime.ts";
import type { Handlers, PageProps } from "$fresh/server.ts";
import Header from "../components/Header.tsx";
import type { PageQueueEntry, PageState } from "../components/page_state.ts";
import AgentList from "../islands/AgentList.tsx";
import CommandBar from "../islands/CommandBar.tsx";
import CommandQueue from "../islands/CommandQueue.tsx";
import ConnectionStatus from "../islands/ConnectionStatus.tsx";
import Terminal from "../islands/Terminal.tsx";
import type { AgentInfo, CommandInfo } from "../lib/protocol.ts";

interface DashboardData {
  agents: AgentInfo[];
  commands: CommandInfo[];
  queues: Record<string, PageQueueEntry[]>;
  selectedAgentId: string | null;
}

const ORDER = { busy: 0, online: 1, offline: 2 } as const;

export const handler: Handlers<DashboardData, PageState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    const agents = app.registry.list();
    const commands = await app.commands.listRecent({ limit: 200 });
    const queues = Object.fromEntries(
      agents.map((a) => [a.id, app.commands.queueOf(a.id)]),
    );
    const first =
      [...agents].sort((a, b) =>
        ORDER[a.status] - ORDER[b.status] || a.name.localeCompare(b.name)
      )[0];
    return ctx.render({
      agents,
      commands,
      queues,
      selectedAgentId: first?.id ?? null,
    });
  },
};

/** The dashboard: agents, command bar, terminal, queue. */
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
      <main class="dashboard">
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
