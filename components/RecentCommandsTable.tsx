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

/** Props of {@link RecentCommandsTable}. */
export interface RecentCommandsTableProps {
  /** Newest first. */
  commands: readonly CommandInfo[];
  /** The command shown in the terminal, if one is. */
  shownId: string | null;
  /** For durations of running commands. */
  now: number;
  /** Whether the page is interactive (buttons enabled). */
  interactive: boolean;
  /** Why re-running is not possible now, or null when it is. */
  rerunRefusal: string | null;
  onShow: (commandId: string) => void;
  onRerun: (command: CommandInfo) => void;
}

/**
 * An agent's recent commands: who requested each, its status and who ended
 * it (why), exit code or signal, start, end, duration, downloads, and a
 * re-run button. Each row's tooltip has the id and everything else.
 */
export default function RecentCommandsTable(props: RecentCommandsTableProps) {
  return (
    <table class="table recent" data-testid="recent-commands">
      <thead>
        <tr>
          <th scope="col">Requested</th>
          <th scope="col">Command</th>
          <th scope="col">By</th>
          <th scope="col">Status</th>
          <th scope="col">Exit</th>
          <th scope="col">Started</th>
          <th scope="col">Ended</th>
          <th scope="col">Duration</th>
          <th scope="col">Download</th>
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {props.commands.map((c) => (
          <tr
            key={c.id}
            data-command-id={c.id}
            class={c.id === props.shownId ? "selected" : undefined}
            title={commandSummary(c)}
          >
            <td class="mono muted">{formatClock(c.requestedAt)}</td>
            <td class="cmd">
              {c.kind && c.kind !== "exec" && (
                <span class="kind-tag" data-testid="kind-tag">{c.kind}</span>
              )}
              <button
                type="button"
                class="link mono"
                disabled={!props.interactive}
                title={c.kind === "prompt"
                  ? "Show this prompt's turn in the session"
                  : "Show this command's output"}
                onClick={() => props.onShow(c.id)}
              >
                {shortCommand(c.command, 60)}
              </button>
            </td>
            <td data-testid="requested-by">{c.requestedBy}</td>
            <td>
              <StatusBadge status={c.status} />
              {c.endedBy && (
                <span class="ended-by" data-testid="ended-by">
                  by {endedByText(c)}
                </span>
              )}
            </td>
            <td class="mono">{exitText(c)}</td>
            <td class="mono muted">{clockOrEmpty(c.startedAt)}</td>
            <td class="mono muted">{clockOrEmpty(c.completedAt)}</td>
            <td class="mono muted">{commandDuration(c, props.now)}</td>
            <td>
              {c.status !== "cancelled" && <RecordingLinks commandId={c.id} />}
            </td>
            <td>
              <button
                type="button"
                class="button small"
                data-testid="rerun-button"
                aria-label={`Re-run ${shortCommand(c.command, 60)}`}
                title={props.rerunRefusal ??
                  `Run "${
                    shortCommand(c.command, 60)
                  }" again on the same agent with ${c.priority} priority`}
                disabled={!props.interactive || props.rerunRefusal !== null}
                onClick={() => props.onRerun(c)}
              >
                Re-run
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
