import type { ComponentChildren } from "preact";
import type { AgentInfo } from "../lib/protocol.ts";
import { ACTIVITY_LABELS } from "../lib/client/control.ts";
import { shortCommand } from "../lib/client/format.ts";
import { sessionEndView } from "../lib/client/session_restart.ts";
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
 * action, link; optional content under it. An agent that needs input, is
 * stalled or waiting says so with a colored badge, an icon and text; so does
 * a session agent whose session ended or failed.
 */
export default function AgentCard(
  { agent, selected, currentCommand, onSelect, action, children }:
    AgentCardProps,
) {
  // Working is the normal case; the others are called out (not while offline).
  const activity = agent.status !== "offline" && agent.activity &&
      agent.activity !== "working"
    ? agent.activity
    : null;
  // A session agent whose session ended is not ready for prompts: say how
  // it ended ("Session failed (exit 3)"), in words and an icon.
  const ended = sessionEndView(agent);
  const current = agent.currentCommandId
    ? shortCommand(currentCommand ?? agent.currentCommandId, 48)
    : null;
  return (
    <li
      class={`agent-card${selected ? " selected" : ""}${
        activity ? ` activity-${activity}` : ""
      }${ended ? ` session-${ended.state}` : ""}`}
      data-testid={`agent-${agent.id}`}
      data-status={agent.status}
      data-activity={activity ?? undefined}
      data-session-end={ended?.state}
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
        {activity && (
          <span
            class={`activity activity-badge-${activity}`}
            data-testid={`activity-${agent.id}`}
          >
            <span class="activity-icon" aria-hidden="true">
              {ACTIVITY_LABELS[activity].icon}
            </span>
            {ACTIVITY_LABELS[activity].text}
          </span>
        )}
        {ended && (
          <span
            class={`activity session-badge-${ended.state}`}
            data-testid={`session-end-${agent.id}`}
          >
            <span class="activity-icon" aria-hidden="true">
              {ended.icon}
            </span>
            {ended.text}
          </span>
        )}
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
