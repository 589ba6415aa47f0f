import type { ComponentChildren } from "preact";
import type { AgentInfo } from "../lib/protocol.ts";
import { ACTIVITY_LABELS } from "../lib/client/control.ts";
import {
  hasFailed,
  type LastResult,
  needsAttention,
  resultText,
  shortAge,
} from "../lib/client/fleet.ts";
import { shortCommand } from "../lib/client/format.ts";
import { sessionEndView } from "../lib/client/session_restart.ts";
import type { TailLine } from "../lib/client/text_tail.ts";

/** Props of {@link FleetCard}. */
export interface FleetCardProps {
  agent: AgentInfo;
  /** The command or prompt it runs now, when known. */
  current?: { text: string; kind: "command" | "prompt" };
  last?: LastResult;
  tail: readonly TailLine[];
  /** The clock the "for 3 m" durations are measured against. */
  now: number;
  pinned: boolean;
  /** Pins or unpins; the button is disabled without it (before hydration). */
  onPin?: () => void;
  /** A control shown at the foot of the card (Forget, for admins). */
  action?: ComponentChildren;
  children?: ComponentChildren;
}

/** The words for what an agent is doing: "Busy", "Needs input", "Offline". */
function stateText(agent: AgentInfo): string {
  if (agent.status === "offline") return "Offline";
  const activity = agent.activity && agent.activity !== "working"
    ? ACTIVITY_LABELS[agent.activity].text
    : null;
  const status = agent.status === "busy" ? "Busy" : "Online";
  return activity ? `${status}, ${activity.toLowerCase()}` : status;
}

/** `/home/me/src/app` as `~/src/app`-like short text: its last two parts. */
function shortPath(path: string): string {
  const parts = path.split("/").filter(Boolean);
  return parts.length <= 2 ? path : `…/${parts.slice(-2).join("/")}`;
}

/**
 * One agent of the fleet overview: name (a link to its page covering the
 * card), status in words, type, host, tags, working directory and git
 * state, what it is doing and for how long, what it runs, the last lines of
 * its output and its last command's result. A failed last command colors
 * the card's edge red and says "Failed (exit 3)"; one that needs a person
 * is marked too.
 */
export default function FleetCard(props: FleetCardProps) {
  const { agent, last, now } = props;
  const attention = needsAttention(agent);
  const failed = hasFailed(agent, last);
  const ended = sessionEndView(agent);
  const since = agent.since ?? agent.connectedAt;
  const state = stateText(agent);
  const href = `/agents/${encodeURIComponent(agent.id)}`;
  return (
    <li
      class={`fleet-card status-${agent.status}${
        attention ? " needs-attention" : ""
      }${failed ? " result-bad" : ""}`}
      data-testid={`fleet-card-${agent.id}`}
      data-status={agent.status}
      data-activity={agent.activity}
      data-result={last?.status}
      data-failed={failed ? "true" : "false"}
      data-attention={attention ? "true" : "false"}
    >
      <div class="fleet-head">
        <span
          class={`dot dot-${agent.status}`}
          aria-hidden="true"
        />
        <h3 class="fleet-name">
          <a
            class="fleet-link"
            href={href}
            data-testid={`fleet-open-${agent.id}`}
          >
            {agent.name}
          </a>
        </h3>
        <span
          class={`badge badge-${agent.status} fleet-state`}
          data-field="state"
        >
          <span class="visually-hidden">Status:</span>
          {state}
        </span>
        <button
          type="button"
          class={`fleet-pin${props.pinned ? " pinned" : ""}`}
          aria-pressed={props.pinned}
          aria-label={`Pin ${agent.name} to the top`}
          title={props.pinned ? "Pinned to the top: unpin" : "Pin to the top"}
          disabled={!props.onPin}
          onClick={props.onPin}
          data-testid={`fleet-pin-${agent.id}`}
        >
          {props.pinned ? "★" : "☆"}
        </button>
      </div>
      <p class="fleet-meta" data-field="meta">
        {agent.type} · {agent.hostname || "unknown host"}
        {agent.tags?.map((tag) => (
          <span class="fleet-tag" key={tag} data-field="tag">{tag}</span>
        ))}
      </p>
      {(agent.cwd || agent.git) && (
        <p class="fleet-where">
          {agent.cwd && (
            <span class="mono fleet-cwd" title={agent.cwd} data-field="cwd">
              {shortPath(agent.cwd)}
            </span>
          )}
          {agent.git && (
            <span
              class={`fleet-git${agent.git.dirty ? " dirty" : ""}`}
              data-field="git"
              data-branch={agent.git.branch}
              data-dirty={agent.git.dirty ? "true" : "false"}
              title={agent.git.commit
                ? `${agent.git.branch} at ${agent.git.commit}`
                : agent.git.branch}
            >
              <span aria-hidden="true">⎇</span>
              <span class="visually-hidden">branch</span> {agent.git.branch}
              {agent.git.dirty
                ? <span class="fleet-dirty">● modified</span>
                : <span class="fleet-clean">clean</span>}
            </span>
          )}
        </p>
      )}
      <p class="fleet-since" data-field="since">
        {state} for {shortAge(now - since)}
      </p>
      {agent.activity === "needs-input" && agent.attention && (
        <p class="fleet-attention" data-field="attention">
          {shortCommand(agent.attention, 120)}
        </p>
      )}
      {ended && (
        <p class={`fleet-ended session-badge-${ended.state}`}>{ended.text}</p>
      )}
      {props.current && (
        <p class="fleet-current" data-field="current">
          <span class="visually-hidden">
            {props.current.kind === "prompt" ? "Prompt:" : "Running:"}
          </span>
          <code title={props.current.text}>
            {props.current.kind === "prompt" ? "› " : "$ "}
            {shortCommand(props.current.text, 80)}
          </code>
        </p>
      )}
      <pre
        class="fleet-tail"
        data-field="tail"
        aria-label={`Last lines of ${agent.name}'s output`}
      >{props.tail.length === 0
        ? <span class="muted">No output yet</span>
        : props.tail.map((line, i) => (
          <span key={i} class={line.err ? "tail-err" : undefined}>
            {line.text}
            {"\n"}
          </span>
        ))}</pre>
      <p
        class={`fleet-result${last ? ` tone-${last.tone}` : ""}`}
        data-field="result"
      >
        {last
          ? (
            <>
              <span aria-hidden="true">
                {last.tone === "ok" ? "✓" : last.tone === "bad" ? "✕" : "■"}
              </span>{" "}
              <span class="visually-hidden">Last command:</span>
              <strong>{resultText(last)}</strong>{" "}
              <code title={last.command}>{shortCommand(last.command, 40)}</code>
              {last.completedAt !== null &&
                ` · ${shortAge(now - last.completedAt)} ago`}
            </>
          )
          : <span class="muted">No finished command</span>}
      </p>
      {props.action}
      {props.children}
    </li>
  );
}
