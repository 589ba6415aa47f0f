import type { AgentStatus, CommandStatus } from "../lib/protocol.ts";
import { statusLabel } from "../lib/client/format.ts";

/** A colored dot for an agent's status. */
export function StatusDot(props: { status: AgentStatus }) {
  return (
    <span
      class={`dot dot-${props.status}`}
      role="img"
      aria-label={props.status}
      title={props.status}
    />
  );
}

/**
 * A compact badge for a command's (or agent's) status, in words (`timeout`
 * reads "timed out"); `title` adds a tooltip (who ended it, why).
 */
export default function StatusBadge(
  props: { status: CommandStatus | AgentStatus; title?: string },
) {
  const label = props.status === "timeout"
    ? statusLabel(props.status)
    : props.status;
  return (
    <span
      class={`badge badge-${props.status}`}
      data-status={props.status}
      title={props.title}
    >
      {label}
    </span>
  );
}
