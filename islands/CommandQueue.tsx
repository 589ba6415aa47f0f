import { useEffect, useState } from "preact/hooks";
import StatusBadge from "../components/StatusBadge.tsx";
import { getClient } from "../lib/client/client.ts";
import {
  commandDuration,
  formatClock,
  shortCommand,
} from "../lib/client/format.ts";
import {
  type QueueEntry,
  seedCommands,
  seedQueues,
  stores,
} from "../lib/client/stores.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";
import type { CommandInfo } from "../lib/protocol.ts";

/** Props of {@link CommandQueue}: server-rendered snapshot. */
export interface CommandQueueProps {
  /** Recent commands, oldest first (as `listRecent` returns them). */
  commands: CommandInfo[];
  /** Queues by agent id. */
  queues: Record<string, QueueEntry[]>;
  /** Pre-selected agent (agent page). */
  agentId?: string | null;
  /** Whether the user may cancel queued commands. */
  canOperate: boolean;
}

const RECENT_LIMIT = 25;

/** The selected agent's queue (with cancel) and its recent commands. */
export default function CommandQueue(props: CommandQueueProps) {
  const hydrated = useHydrated();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    seedCommands(stores, props.commands);
    seedQueues(stores, props.queues);
    if (props.agentId) stores.selectedAgentId.value = props.agentId;
    getClient();
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  const agentId = hydrated
    ? stores.selectedAgentId.value
    : props.agentId ?? null;
  const all = hydrated
    ? stores.commands.value
    : new Map(props.commands.map((c) => [c.id, c]));
  const queue = agentId
    ? (hydrated ? stores.queues.value.get(agentId) : props.queues[agentId]) ??
      []
    : [];
  const recent = [...all.values()]
    .filter((c) => c.agentId === agentId && c.status !== "queued")
    .sort((a, b) => b.requestedAt - a.requestedAt)
    .slice(0, RECENT_LIMIT);
  const shown = hydrated ? stores.selectedCommandId.value : null;
  const connected = hydrated &&
    getClient().connection.value.state === "connected";

  const cancel = (commandId: string) =>
    getClient().send("command:interrupt", {
      commandId,
      reason: "cancelled from queue",
    });
  const show = (commandId: string) => {
    stores.selectedCommandId.value =
      stores.selectedCommandId.value === commandId ? null : commandId;
  };

  return (
    <section
      class="panel command-queue"
      data-testid="command-queue"
      aria-label="Commands"
    >
      <h2 class="panel-title">
        Queue <span class="count">{queue.length}</span>
      </h2>
      {queue.length === 0
        ? (
          <p class="empty">
            {agentId ? "Queue is empty." : "No agent selected."}
          </p>
        )
        : (
          <ol class="queue" data-testid="queue-list">
            {[...queue].sort((a, b) => a.position - b.position).map((entry) => {
              const c = all.get(entry.commandId);
              return (
                <li
                  key={entry.commandId}
                  class="queue-item"
                  data-command-id={entry.commandId}
                >
                  <span class="queue-pos mono">#{entry.position + 1}</span>
                  <span class={`prio prio-${entry.priority}`}>
                    {entry.priority}
                  </span>
                  {c?.kind === "prompt" && <span class="kind-tag">prompt</span>}
                  <code class="queue-cmd" title={c?.command}>
                    {shortCommand(c?.command ?? entry.commandId, 60)}
                  </code>
                  <button
                    type="button"
                    class="button small"
                    data-testid="cancel-button"
                    aria-label={`Cancel ${
                      shortCommand(c?.command ?? entry.commandId, 60)
                    }`}
                    disabled={!hydrated || !connected || !props.canOperate}
                    onClick={() => cancel(entry.commandId)}
                  >
                    Cancel
                  </button>
                </li>
              );
            })}
          </ol>
        )}
      <h2 class="panel-title">
        Recent {shown && (
          <button
            type="button"
            class="link"
            onClick={() => (stores.selectedCommandId.value = null)}
          >
            show live output
          </button>
        )}
      </h2>
      {recent.length === 0
        ? <p class="empty">No commands yet.</p>
        : (
          <table class="table recent" data-testid="recent-commands">
            <thead>
              <tr>
                <th scope="col">Requested</th>
                <th scope="col">Command</th>
                <th scope="col">Status</th>
                <th scope="col">Exit</th>
                <th scope="col">Duration</th>
              </tr>
            </thead>
            <tbody>
              {recent.map((c) => (
                <tr
                  key={c.id}
                  data-command-id={c.id}
                  class={c.id === shown ? "selected" : undefined}
                >
                  <td class="mono muted">{formatClock(c.requestedAt)}</td>
                  <td class="cmd">
                    {c.kind && c.kind !== "exec" && (
                      <span class="kind-tag" data-testid="kind-tag">
                        {c.kind}
                      </span>
                    )}
                    <button
                      type="button"
                      class="link mono"
                      disabled={!hydrated}
                      title={c.kind === "prompt"
                        ? "Show this prompt's turn in the session"
                        : "Show this command's output"}
                      onClick={() => show(c.id)}
                    >
                      {shortCommand(c.command, 60)}
                    </button>
                  </td>
                  <td>
                    <StatusBadge status={c.status} />
                  </td>
                  <td class="mono">
                    {c.exitCode === null ? "" : `exit ${c.exitCode}`}
                  </td>
                  <td class="mono muted">
                    {commandDuration(
                      c,
                      hydrated ? now : c.completedAt ?? c.startedAt ?? 0,
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
    </section>
  );
}
