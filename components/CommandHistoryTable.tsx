import type { CommandInfo } from "../lib/protocol.ts";
import {
  commandDuration,
  formatClock,
  shortCommand,
} from "../lib/client/format.ts";
import RecordingLinks from "./RecordingLinks.tsx";
import StatusBadge from "./StatusBadge.tsx";

/** Server-rendered history of commands, newest first. */
export default function CommandHistoryTable(
  props: { commands: readonly CommandInfo[]; now: number },
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
          <th>Status</th>
          <th>Exit</th>
          <th>Duration</th>
          <th>By</th>
          <th>Output</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => (
          <tr key={c.id} data-command-id={c.id}>
            <td class="mono">{formatClock(c.requestedAt)}</td>
            <td class="mono cmd" title={c.command}>
              {shortCommand(c.command, 100)}
            </td>
            <td>{c.priority}</td>
            <td>
              <StatusBadge status={c.status} />
            </td>
            <td class="mono">{c.exitCode ?? ""}</td>
            <td class="mono">{commandDuration(c, props.now)}</td>
            <td>{c.requestedBy}</td>
            <td class="mono">
              {c.outputBytes} B{" "}
              {c.status !== "queued" && <RecordingLinks commandId={c.id} />}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
