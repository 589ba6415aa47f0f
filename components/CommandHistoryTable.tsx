import type { ComponentChildren } from "preact";
import type { CommandInfo } from "../lib/protocol.ts";
import {
  clockOrEmpty,
  commandDuration,
  commandSummary,
  endedByText,
  exitText,
  formatClock,
  shortCommand,
} from "../lib/client/format.ts";
import RecordingLinks from "./RecordingLinks.tsx";
import StatusBadge from "./StatusBadge.tsx";

/**
 * Server-rendered history of commands, newest first: who requested each,
 * its status and who ended it (why), exit code or signal, start, end and
 * duration. The id and everything else are in each row's tooltip. With
 * `rerun`, a last column holds what it renders for each command that ran
 * (the page passes its Re-run island: components never import islands).
 */
export default function CommandHistoryTable(
  props: {
    commands: readonly CommandInfo[];
    now: number;
    rerun?: (command: CommandInfo) => ComponentChildren;
  },
) {
  const rows = [...props.commands].reverse();
  if (rows.length === 0) return <p class="empty">No commands yet.</p>;
  return (
    <table class="table" data-testid="command-history">
      <thead>
        <tr>
          <th>Requested (UTC)</th>
          <th>Command</th>
          <th>Priority</th>
          <th>By</th>
          <th>Status</th>
          <th>Ended by</th>
          <th>Exit</th>
          <th>Started</th>
          <th>Ended</th>
          <th>Duration</th>
          <th>Output</th>
          {props.rerun && <th>Re-run</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <tr key={c.id} data-command-id={c.id} title={commandSummary(c)}>
            <td class="mono">{formatClock(c.requestedAt)}</td>
            <td class="mono cmd" title={`${c.command}\n\nid ${c.id}`}>
              {shortCommand(c.command, 100)}
            </td>
            <td>{c.priority}</td>
            <td data-testid="requested-by">{c.requestedBy}</td>
            <td>
              <StatusBadge status={c.status} />
            </td>
            <td data-testid="ended-by">{endedByText(c)}</td>
            <td class="mono">{exitText(c)}</td>
            <td class="mono">{clockOrEmpty(c.startedAt)}</td>
            <td class="mono">{clockOrEmpty(c.completedAt)}</td>
            <td class="mono">{commandDuration(c, props.now)}</td>
            <td class="mono">
              {c.outputBytes} B{" "}
              {c.status !== "queued" && c.status !== "cancelled" && (
                <RecordingLinks commandId={c.id} />
              )}
            </td>
            {props.rerun && (
              <td class="rerun">
                {c.status !== "queued" && props.rerun(c)}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
