import type { AgentStatus, CommandStatus } from "../lib/protocol.ts";

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

/** A compact badge for a command's (or agent's) status. */
export default function StatusBadge(
  props: { status: CommandStatus | AgentStatus },
) {
  return <span class={`badge badge-${props.status}`}>{props.status}</span>;
}
