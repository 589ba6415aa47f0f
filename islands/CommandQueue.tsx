import { useEffect, useRef, useState } from "preact/hooks";
import CommandDetail from "../components/CommandDetail.tsx";
import RecentCommandsTable from "../components/RecentCommandsTable.tsx";
import { getClient } from "../lib/client/client.ts";
import {
  endFeedback,
  refusalFeedback,
  requestFeedback,
} from "../lib/client/feedback.ts";
import { commandSummary, shortCommand } from "../lib/client/format.ts";
import {
  agentName,
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

/** What this panel asked the server, awaiting an answer. */
type Sent = { action: "cancel" | "rerun"; agentId: string };

/** The panel's answer line: text, or a re-run that follows its command. */
type Feedback =
  | { kind: "ok" | "error"; text: string }
  | { kind: "rerun"; commandId: string; agentId: string }
  | null;

/**
 * The selected agent's queue (with who asked for each, and cancel), its
 * recent commands with who ended each and how, a re-run button, and the
 * details of the command shown.
 */
export default function CommandQueue(props: CommandQueueProps) {
  const hydrated = useHydrated();
  const [now, setNow] = useState(() => Date.now());
  const [feedback, setFeedback] = useState<Feedback>(null);
  const sent = useRef(new Map<string, Sent>());
  useEffect(() => {
    seedCommands(stores, props.commands);
    seedQueues(stores, props.queues);
    if (props.agentId) stores.selectedAgentId.value = props.agentId;
    const client = getClient();
    const take = (replyTo: string | undefined) => {
      const one = replyTo ? sent.current.get(replyTo) : undefined;
      if (replyTo) sent.current.delete(replyTo);
      return one;
    };
    const offStatus = client.on("command:status", (m) => {
      const one = take(m.payload.replyTo);
      if (!one) return;
      const { command } = m.payload;
      setFeedback(
        one.action === "rerun"
          ? { kind: "rerun", commandId: command.id, agentId: command.agentId }
          : {
            kind: "ok",
            text: `${shortCommand(command.command, 40)}: ${
              endFeedback(command, agentName(command.agentId))
            }`,
          },
      );
    });
    const offError = client.on("error", (m) => {
      const one = take(m.payload.replyTo);
      if (!one) return;
      setFeedback({
        kind: "error",
        text: refusalFeedback(
          m.payload.code,
          m.payload.message,
          agentName(one.agentId),
          one.action === "rerun" ? "request" : "interrupt",
        ),
      });
    });
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      clearInterval(timer);
      offStatus();
      offError();
    };
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
  const agent = agentId && hydrated
    ? stores.agents.value.get(agentId)
    : undefined;
  const online = agent !== undefined && agent.status !== "offline";

  const newId = () =>
    `q-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const cancel = (commandId: string, onAgent: string) => {
    const id = newId();
    sent.current.set(id, { action: "cancel", agentId: onAgent });
    setFeedback({ kind: "ok", text: `Cancelling on ${agentName(onAgent)}…` });
    getClient().send("command:interrupt", {
      commandId,
      reason: "cancelled from queue",
    }, id);
  };
  /** The same command, agent and priority again, as a new command. */
  const rerun = (c: CommandInfo) => {
    const id = newId();
    sent.current.set(id, { action: "rerun", agentId: c.agentId });
    setFeedback({
      kind: "ok",
      text: `Sending re-run to ${agentName(c.agentId)}…`,
    });
    getClient().send("command:request", {
      agentId: c.agentId,
      command: c.command,
      priority: c.priority,
    }, id);
  };
  const rerunCommand = feedback?.kind === "rerun"
    ? stores.commands.value.get(feedback.commandId)
    : undefined;
  const feedbackText = feedback?.kind === "rerun"
    ? rerunCommand
      ? requestFeedback(
        rerunCommand,
        agentName(feedback.agentId),
        stores.queues.value.get(feedback.agentId),
        "Re-run",
      )
      : `Re-run queued on ${agentName(feedback.agentId)}`
    : feedback?.text;
  const detail = shown ? all.get(shown) : undefined;
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
                  <code
                    class="queue-cmd"
                    title={c ? commandSummary(c) : `Command ${entry.commandId}`}
                  >
                    {c ? shortCommand(c.command, 60) : "…"}
                  </code>
                  {c && (
                    <span class="queue-by" data-testid="queue-by">
                      by {c.requestedBy}
                    </span>
                  )}
                  <button
                    type="button"
                    class="button small"
                    data-testid="cancel-button"
                    aria-label={`Cancel ${
                      shortCommand(c?.command ?? "this command", 60)
                    }`}
                    disabled={!hydrated || !connected || !props.canOperate}
                    onClick={() => cancel(entry.commandId, agentId!)}
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
          <RecentCommandsTable
            commands={recent}
            shownId={shown}
            now={hydrated ? now : 0}
            interactive={hydrated}
            rerunRefusal={!props.canOperate
              ? "Viewers cannot run commands"
              : !hydrated || !connected
              ? "Not connected to the server"
              : !online
              ? "The agent is offline"
              : null}
            onShow={show}
            onRerun={rerun}
          />
        )}
      {detail && <CommandDetail command={detail} now={now} />}
      <p
        class="command-hint"
        data-testid="queue-answer"
        aria-live="polite"
      >
        {feedbackText && (
          <span
            class={feedback?.kind === "error" ? "text-error" : "text-ok"}
            title={feedback?.kind === "rerun"
              ? `Command ${feedback.commandId}`
              : undefined}
          >
            {feedbackText}
          </span>
        )}
      </p>
    </section>
  );
}
