import { Head } from "$fresh/runtime.ts";
import type { Handlers, PageProps } from "$fresh/server.ts";
import CommandHistoryTable from "../../components/CommandHistoryTable.tsx";
import Header from "../../components/Header.tsx";
import type { PageQueueEntry, PageState } from "../../components/page_state.ts";
import AgentForgotten from "../../islands/AgentForgotten.tsx";
import AgentList from "../../islands/AgentList.tsx";
import CommandBar from "../../islands/CommandBar.tsx";
import CommandQueue from "../../islands/CommandQueue.tsx";
import HistoryRerun from "../../islands/HistoryRerun.tsx";
import ConnectionStatus from "../../islands/ConnectionStatus.tsx";
import Terminal from "../../islands/Terminal.tsx";
import type { AgentInfo, CommandInfo } from "../../lib/protocol.ts";

interface AgentPageData {
  id: string;
  agent: AgentInfo | null;
  agents: AgentInfo[];
  commands: CommandInfo[];
  queue: PageQueueEntry[];
  now: number;
}

export const handler: Handlers<AgentPageData, PageState> = {
  async GET(_req, ctx) {
    const { app } = ctx.state;
    const id = ctx.params.id;
    const agent = app.registry.get(id) ?? null;
    const commands = await app.commands.listRecent({ agentId: id, limit: 200 });
    if (!agent && commands.length === 0) return ctx.renderNotFound();
    return ctx.render({
      id,
      agent,
      agents: app.registry.list(),
      commands,
      queue: agent ? app.commands.queueOf(id) : [],
      now: Date.now(),
    });
  },
};

/** One agent: live terminal (pre-selected), queue, and command history. */
export default function AgentPage(
  { data, state }: PageProps<AgentPageData, PageState>,
) {
  const role = state.user?.role ?? "viewer";
  const { id, agent } = data;
  const name = agent?.name ?? id;
  return (
    <div class="layout">
      <Head>
        <title>{name} · Flightdeck</title>
      </Head>
      <Header user={state.user} title={name}>
        <ConnectionStatus />
      </Header>
      <main class="dashboard">
        <aside class="sidebar">
          <AgentList
            agents={data.agents}
            selectedAgentId={id}
            navigate
            role={role}
          />
        </aside>
        <div class="workspace">
          <section class="panel agent-summary" data-testid="agent-summary">
            {/* The live status is in the agent list (and the terminal title). */}
            <h1>{name}</h1>
            <p class="muted mono">
              {id}
              {agent &&
                ` · ${agent.type} · ${agent.hostname} · ${
                  agent.capabilities.join(", ") || "no capabilities"
                }`}
            </p>
            {agent && (agent.cwd || agent.git || agent.tags?.length) && (
              <p class="muted mono" data-testid="agent-where">
                {agent.cwd}
                {agent.git &&
                  ` · ${agent.git.branch}${
                    agent.git.dirty ? " (modified)" : ""
                  }`}
                {agent.tags?.length ? ` · tags: ${agent.tags.join(", ")}` : ""}
              </p>
            )}
            <AgentForgotten agentId={id} known={agent !== null} />
          </section>
          <CommandBar role={role} agentId={id} />
          <Terminal agentId={id} />
          <CommandQueue
            commands={data.commands}
            queues={{ [id]: data.queue }}
            agentId={id}
            canOperate={role !== "viewer"}
          />
          <section class="panel">
            <h2 class="panel-title">History</h2>
            <CommandHistoryTable
              commands={data.commands}
              now={data.now}
              rerun={(c) => (
                <HistoryRerun
                  agentId={c.agentId}
                  command={c.command}
                  priority={c.priority}
                  canOperate={role !== "viewer"}
                />
              )}
            />
          </section>
        </div>
      </main>
    </div>
  );
}
