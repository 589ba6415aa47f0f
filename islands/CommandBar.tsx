import { effect } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import CommandOptions from "../components/CommandOptions.tsx";
import { getClient } from "../lib/client/client.ts";
import { agentName, stores } from "../lib/client/stores.ts";
import { useHydrated } from "../lib/client/use_hydrated.ts";
import {
  interruptFeedback,
  refusalFeedback,
  requestFeedback,
} from "../lib/client/feedback.ts";
import { parseTimeoutSeconds } from "../lib/client/timeout_field.ts";
import type { Priority } from "../lib/protocol.ts";

/** Props of {@link CommandBar}. */
export interface CommandBarProps {
  role: "viewer" | "operator" | "admin";
  /** Pre-selected agent (agent page). */
  agentId?: string | null;
}

/** What an answer is about: a command request, an interrupt, a stop. */
type Action = "request" | "interrupt" | "stop";

type Answer =
  | { kind: "ok" | "error"; text: string }
  /** Sent, no answer yet; `tracked` when the client resends it (requests). */
  | { kind: "pending"; id: string; tracked: boolean; text: string }
  /** A request was queued: its feedback follows the command's state. */
  | { kind: "queued"; commandId: string; agentId: string }
  | null;

/** Command input for the selected agent: send, interrupt, emergency stop. */
export default function CommandBar({ role, agentId }: CommandBarProps) {
  const hydrated = useHydrated();
  const [text, setText] = useState("");
  const [priority, setPriority] = useState<Priority>("normal");
  /** Timeout of the next command, in seconds; empty: the defaults. */
  const [timeoutText, setTimeoutText] = useState("");
  const [answer, setAnswer] = useState<Answer>(null);
  /** Ids awaiting an answer → whether the client resends them, and what. */
  const pending = useRef<
    Map<string, { tracked: boolean; action: Action; agentId: string }>
  >(new Map());

  useEffect(() => {
    if (agentId) stores.selectedAgentId.value = agentId;
    const client = getClient();
    const take = (replyTo: string | undefined) => {
      const sent = replyTo ? pending.current.get(replyTo) : undefined;
      if (replyTo) pending.current.delete(replyTo);
      return sent;
    };
    const offError = client.on("error", (m) => {
      const { replyTo, code, message } = m.payload;
      const sent = take(replyTo);
      if (!sent) return;
      setAnswer({
        kind: "error",
        text: refusalFeedback(
          code,
          message,
          agentName(sent.agentId),
          sent.action,
        ),
      });
    });
    const offStatus = client.on("command:status", (m) => {
      const { replyTo, command } = m.payload;
      const sent = take(replyTo);
      if (!sent) return;
      if (sent.action === "request") {
        setAnswer({
          kind: "queued",
          commandId: command.id,
          agentId: command.agentId,
        });
      } else {
        setAnswer({
          kind: "ok",
          text: interruptFeedback(command, agentName(command.agentId)),
        });
      }
    });
    // An interrupt is answered on the connection it went out on: once that
    // is gone, no answer will come (command requests are resent instead).
    const offConnection = effect(() => {
      if (client.connection.value.state === "connected") return;
      let lost = false;
      for (const [id, sent] of pending.current) {
        if (!sent.tracked) lost = pending.current.delete(id) || lost;
      }
      if (!lost) return;
      setAnswer((a) =>
        a?.kind === "pending" && !a.tracked
          ? { kind: "error", text: "not confirmed — connection lost" }
          : a
      );
    });
    return () => {
      offError();
      offStatus();
      offConnection();
    };
  }, []);

  const selectedId = hydrated ? stores.selectedAgentId.value : agentId ?? null;
  const agent = hydrated && selectedId
    ? stores.agents.value.get(selectedId)
    : undefined;
  const connected = hydrated &&
    getClient().connection.value.state === "connected";
  const canOperate = role === "operator" || role === "admin";

  let hint: string | null = null;
  if (!canOperate) hint = "Read-only: viewers cannot send commands";
  else if (!hydrated) hint = "Loading…";
  else if (!selectedId || !agent) hint = "Select an agent to send commands";
  else if (agent.status === "offline") hint = `${agent.name} is offline`;
  else if (
    agent.ended && agent.currentCommandId === null &&
    agent.capabilities.includes("session")
  ) {
    // Prompts need a running session (the server refuses them now).
    hint = `${agent.name}'s session ended: restart it to send prompts`;
  }
  // While (re)connecting the operator keeps typing; only sending waits.
  const inputDisabled = hint !== null;
  if (hint === null && !connected) hint = "Not connected to the server";
  const disabled = hint !== null;
  const currentId = agent?.currentCommandId ?? null;
  /** A session agent: what is sent is a prompt typed into its session. */
  const session = agent?.capabilities.includes("session") ?? false;

  const request = (
    action: Action,
    agentId: string,
    pendingText: string,
    send: (id: string) => void,
    tracked = false,
  ) => {
    const id = `r-${Date.now().toString(36)}-${
      Math.random().toString(36).slice(2, 8)
    }`;
    pending.current.set(id, { tracked, action, agentId });
    setAnswer({ kind: "pending", id, tracked, text: pendingText });
    send(id);
    return id;
  };
  // A command:request the client stopped resending (10 minutes unanswered).
  const answered: Answer = answer?.kind === "pending" && answer.tracked &&
      hydrated && !getClient().pending.value.has(answer.id)
    ? { kind: "error", text: "no answer from the server" }
    : answer;
  // A queued request reads its command's current state (and place).
  const queuedCommand = answered?.kind === "queued"
    ? stores.commands.value.get(answered.commandId)
    : undefined;
  const shown: Exclude<Answer, { kind: "queued" }> = answered?.kind ===
      "queued"
    ? {
      kind: "ok",
      text: queuedCommand
        ? requestFeedback(
          queuedCommand,
          agentName(answered.agentId),
          stores.queues.value.get(answered.agentId),
        )
        : `Queued on ${agentName(answered.agentId)}`,
    }
    : answered;
  /** The command an answer is about, for its id on hover. */
  const answerTitle = answered?.kind === "queued"
    ? `Command ${answered.commandId}`
    : undefined;

  const submit = () => {
    if (disabled || !selectedId || text.trim() === "") return;
    const timeoutMs = parseTimeoutSeconds(timeoutText);
    if (typeof timeoutMs === "object") {
      setAnswer({ kind: "error", text: timeoutMs.error });
      return;
    }
    const command = text;
    request(
      "request",
      selectedId,
      `Sending to ${agentName(selectedId)}…`,
      (id) =>
        getClient().send("command:request", {
          agentId: selectedId,
          command,
          priority,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        }, id),
      true,
    );
    setText("");
    // Each send starts from the defaults: normal priority, no own timeout.
    setPriority("normal");
    setTimeoutText("");
    stores.selectedCommandId.value = null;
  };

  const interrupt = () => {
    if (!currentId || !selectedId) return;
    request(
      "interrupt",
      selectedId,
      `Sending interrupt to ${agentName(selectedId)}…`,
      (id) =>
        getClient().send("command:interrupt", {
          commandId: currentId,
          reason: "interrupted from dashboard",
        }, id),
    );
  };

  const emergencyStop = () => {
    if (
      !globalThis.confirm(
        "Emergency stop: interrupt every running command and empty every queue?",
      )
    ) return;
    request(
      "stop",
      selectedId ?? "",
      "Sending emergency stop…",
      (id) =>
        getClient().send("emergency:stop", {
          reason: "emergency stop from dashboard",
        }, id),
    );
    // The server sends no direct answer to an emergency stop.
    setAnswer({
      kind: "ok",
      text: "Emergency stop sent: every running command is interrupted, " +
        "every queue emptied",
    });
  };

  return (
    <form
      class="panel command-bar"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label class="visually-hidden" for="command-input">
        {session ? "Prompt" : "Command"}
      </label>
      <textarea
        id="command-input"
        data-testid="command-input"
        rows={2}
        placeholder={hint ??
          (session
            ? `Prompt for ${agent?.name ?? "agent"}'s session — typed in ` +
              `when it waits at its prompt; Enter sends, Shift+Enter for a new line`
            : `Command for ${
              agent?.name ?? "agent"
            } — Enter sends, Shift+Enter for a new line`)}
        value={text}
        disabled={inputDisabled}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      <div class="command-actions">
        <CommandOptions
          priority={priority}
          timeoutText={timeoutText}
          agentTimeoutMs={agent?.defaultTimeoutMs}
          disabled={inputDisabled}
          onPriority={setPriority}
          onTimeoutText={setTimeoutText}
        />
        <button
          type="submit"
          class="button primary"
          data-testid="send-button"
          disabled={disabled || text.trim() === ""}
          title={session
            ? "Queue a prompt: it is typed into the session when it waits"
            : undefined}
        >
          {session ? "Send prompt" : "Send"}
        </button>
        <button
          type="button"
          class="button"
          data-testid="interrupt-button"
          disabled={disabled || !currentId}
          onClick={interrupt}
          title={!currentId
            ? "Nothing running"
            : session
            ? "Ctrl-C into the session (its prompt in flight ends interrupted)"
            : `Interrupt the running command (id ${currentId})`}
        >
          Interrupt
        </button>
        {role === "admin" && (
          <button
            type="button"
            class="button danger"
            data-testid="emergency-stop-button"
            disabled={!hydrated || !connected}
            onClick={emergencyStop}
          >
            Emergency stop
          </button>
        )}
      </div>
      <div class="command-hint" data-testid="command-answer" aria-live="polite">
        {shown
          ? (
            <span
              class={shown.kind === "error"
                ? "text-error"
                : shown.kind === "pending"
                ? "muted"
                : "text-ok"}
              data-answer={shown.kind}
              title={answerTitle}
            >
              {shown.text}
            </span>
          )
          : hint && <span class="muted">{hint}</span>}
      </div>
    </form>
  );
}
