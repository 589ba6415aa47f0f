import type { Priority } from "../lib/protocol.ts";
import { formatDuration } from "../lib/client/format.ts";

/** Props of {@link CommandOptions}. */
export interface CommandOptionsProps {
  priority: Priority;
  /** The timeout field as typed (seconds); empty: the defaults. */
  timeoutText: string;
  /** The selected agent's own default timeout, shown as the placeholder. */
  agentTimeoutMs?: number;
  disabled: boolean;
  onPriority: (priority: Priority) => void;
  onTimeoutText: (text: string) => void;
}

const PRIORITIES: readonly Priority[] = ["high", "normal", "low"];

/** The command bar's options: priority and timeout of the next command. */
export default function CommandOptions(props: CommandOptionsProps) {
  return (
    <>
      <select
        data-testid="priority-select"
        aria-label="Priority"
        value={props.priority}
        disabled={props.disabled}
        onChange={(e) => {
          const chosen = PRIORITIES.find((p) => p === e.currentTarget.value);
          if (chosen) props.onPriority(chosen);
        }}
      >
        {PRIORITIES.map((p) => <option key={p} value={p}>{p}</option>)}
      </select>
      <label class="timeout-field">
        <span class="visually-hidden">Timeout in seconds</span>
        <input
          type="number"
          inputMode="decimal"
          min="0.001"
          step="any"
          data-testid="timeout-input"
          aria-label="Timeout in seconds (empty: the agent's or server's default)"
          placeholder={props.agentTimeoutMs
            ? `timeout s (${formatDuration(props.agentTimeoutMs)})`
            : "timeout s"}
          title="Interrupt the command this many seconds after it starts; it then ends timed out. Empty: the agent's or the server's default."
          value={props.timeoutText}
          disabled={props.disabled}
          onInput={(e) => props.onTimeoutText(e.currentTarget.value)}
        />
      </label>
    </>
  );
}
