import { useEffect, useRef, useState } from "preact/hooks";
import { getClient } from "../lib/client/client.ts";
import { refusalFeedback, requestFeedback } from "../lib/client/feedback.ts";
import { shortCommand } from "../lib/client/format.ts";
import { agentName, stores } from "../lib/client/stores.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";
import type { Priority } from "../lib/protocol.ts";

/** Props of {@link HistoryRerun}: one row of the history table. */
export interface HistoryRerunProps {
  agentId: string;
  command: string;
  priority: Priority;
  /** Whether the user may run commands (not a viewer). */
  canOperate: boolean;
}

/**
 * The history table's Re-run button: requests the row's command again on
 * the same agent with the same priority (a new command) and says, beside
 * it, what became of it ("Re-run queued 2nd on build-1", or why not).
 * Listens to the socket only while its request is unanswered.
 */
export default function HistoryRerun(props: HistoryRerunProps) {
  const hydrated = useHydrated();
  const [answer, setAnswer] = useState<
    { kind: "ok" | "error"; text: string } | { kind: "new"; id: string } | null
  >(null);
  const off = useRef<(() => void) | null>(null);
  useEffect(() => () => off.current?.(), []);

  const name = hydrated ? agentName(props.agentId) : props.agentId;
  const connected = hydrated &&
    getClient().connection.value.state === "connected";
  const agent = hydrated ? stores.agents.value.get(props.agentId) : undefined;
  const refusal = !props.canOperate
    ? "Viewers cannot run commands"
    : !connected
    ? "Not connected to the server"
    : !agent || agent.status === "offline"
    ? "The agent is offline"
    : null;

  const rerun = () => {
    off.current?.();
    const client = getClient();
    const id = `h-${Date.now().toString(36)}-${
      Math.random().toString(36).slice(2, 8)
    }`;
    const offStatus = client.on("command:status", (m) => {
      if (m.payload.replyTo !== id) return;
      stop();
      setAnswer({ kind: "new", id: m.payload.command.id });
    });
    const offError = client.on("error", (m) => {
      if (m.payload.replyTo !== id) return;
      stop();
      setAnswer({
        kind: "error",
        text: refusalFeedback(
          m.payload.code,
          m.payload.message,
          name,
          "request",
        ),
      });
    });
    const stop = () => {
      offStatus();
      offError();
      off.current = null;
    };
    off.current = stop;
    setAnswer({ kind: "ok", text: `Sending re-run to ${name}…` });
    client.send("command:request", {
      agentId: props.agentId,
      command: props.command,
      priority: props.priority,
    }, id);
  };

  // The new command's state follows it live once the answer named it.
  const fresh = answer?.kind === "new"
    ? stores.commands.value.get(answer.id)
    : undefined;
  const text = answer?.kind === "new"
    ? fresh
      ? requestFeedback(
        fresh,
        name,
        stores.queues.value.get(props.agentId),
        "Re-run",
      )
      : `Re-run queued on ${name}`
    : answer?.text;
  return (
    <>
      <button
        type="button"
        class="button small"
        data-testid="history-rerun"
        aria-label={`Re-run ${shortCommand(props.command, 60)}`}
        title={refusal ??
          `Run "${
            shortCommand(props.command, 60)
          }" again on the same agent with ${props.priority} priority`}
        disabled={!hydrated || refusal !== null}
        onClick={rerun}
      >
        Re-run
      </button>
      <span
        class={answer?.kind === "error" ? "error" : "muted"}
        role="status"
        aria-live="polite"
        data-testid="history-rerun-answer"
      >
        {text ? ` ${text}` : ""}
      </span>
    </>
  );
}
