import type { CommandInfo } from "../lib/protocol.ts";
import {
  clockOrEmpty,
  commandDuration,
  exitText,
  formatClock,
  formatDuration,
  statusLabel,
} from "../lib/client/format.ts";

/**
 * Everything about one command: its text and id, who requested it and
 * when, how it ended and who ended it (why), exit code or signal, start,
 * end, duration and timeout. `now` measures a running one.
 */
export default function CommandDetail(
  props: { command: CommandInfo; now: number },
) {
  const c = props.command;
  return (
    <dl class="command-detail" data-testid="command-detail">
      <dt>Command</dt>
      <dd class="mono">{c.command}</dd>
      <dt>Id</dt>
      <dd class="mono">{c.id}</dd>
      <dt>Requested</dt>
      <dd>
        {formatClock(c.requestedAt)} UTC by {c.requestedBy}, {c.priority}{" "}
        priority
      </dd>
      <dt>Status</dt>
      <dd>{statusLabel(c.status)}</dd>
      {c.endedBy && (
        <>
          <dt>Ended by</dt>
          <dd>{c.endedBy.actor} ({c.endedBy.role})</dd>
          <dt>Reason</dt>
          <dd>{c.endedBy.reason ?? "none given"}</dd>
        </>
      )}
      <dt>Exit</dt>
      <dd class="mono">{exitText(c) || "—"}</dd>
      <dt>Started</dt>
      <dd class="mono">{clockOrEmpty(c.startedAt) || "—"}</dd>
      <dt>Ended</dt>
      <dd class="mono">{clockOrEmpty(c.completedAt) || "—"}</dd>
      <dt>Duration</dt>
      <dd class="mono">{commandDuration(c, props.now) || "—"}</dd>
      {c.timeoutMs && (
        <>
          <dt>Timeout</dt>
          <dd class="mono">{formatDuration(c.timeoutMs)}</dd>
        </>
      )}
    </dl>
  );
}
