import type { ComponentChildren } from "preact";
import type { AgentInfo } from "../lib/protocol.ts";
import { shortCommand } from "../lib/client/format.ts";
import { StatusDot } from "./StatusBadge.tsx";

/** Props of {@link AgentCard}. */
export interface AgentCardProps {
  agent: AgentInfo;
  selected?: boolean;
  /** Text of the command the agent is running, when known. */
  currentCommand?: string;
  /** Click handler; the select button is disabled without one (before hydration). */
  onSelect?: (id: string) => void;
  /** A control shown in the row, before the page link (e.g. Forget). */
  action?: ComponentChildren;
  /** Shown under the row, full width (e.g. a confirmation). */
  children?: ComponentChildren;
}

/**
 * One agent row: status dot, name, type, host, current command, an optional
 * action, link; optional content under it.
 */
export default function AgentCard(
  { agent, selected, currentCommand, onSelect, action, children }:
    AgentCardProps,
) {
  const current = agent.currentCommandId
    ? shortCommand(currentCommand ?? agent.currentCommandId, 48)
    : null;
  return (
    <li
      class={`agent-card${selected ? " selected" : ""}`}
      data-testid={`agent-${agent.id}`}
      data-status={agent.status}
      aria-current={selected ? "true" : undefined}
    >
      <button
        type="button"
        class="agent-select"
        disabled={!onSelect}
        onClick={() => onSelect?.(agent.id)}
        title={`Show ${agent.name}`}
      >
        <span class="agent-line">
          <StatusDot status={agent.status} />
          <span class="agent-name">{agent.name}</span>
          <span class="agent-status">{agent.status}</span>
        </span>
        <span class="agent-meta">
          {agent.type} · {agent.hostname || "unknown host"}
        </span>
        {current && (
          <code class="agent-current" title={currentCommand}>{current}</code>
        )}
      </button>
      {action}
      <a
        class="agent-open"
        href={`/agents/${encodeURIComponent(agent.id)}`}
        title="Open agent page"
        aria-label={`Open ${agent.name} page`}
      >
        ↗
      </a>
      {children}
    </li>
  );
}
