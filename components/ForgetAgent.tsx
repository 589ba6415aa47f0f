import type { ForgetState } from "../lib/client/forget_agent.ts";
import type { AgentInfo } from "../lib/protocol.ts";

/** Props of {@link ForgetButton}. */
export interface ForgetButtonProps {
  agent: AgentInfo;
  /** Disabled without a handler (before hydration) or while disconnected. */
  onAsk?: () => void;
  /** Put before each `data-testid` (a second list on the page: `fleet-`). */
  testIdPrefix?: string;
}

/** The first step of forgetting an offline agent: a small "Forget" button. */
export function ForgetButton(
  { agent, onAsk, testIdPrefix = "" }: ForgetButtonProps,
) {
  return (
    <button
      type="button"
      class="agent-forget-button"
      data-testid={`${testIdPrefix}forget-${agent.id}`}
      disabled={!onAsk}
      onClick={onAsk}
      aria-label={`Forget ${agent.name}`}
      title={`Forget ${agent.name}: remove it from every dashboard`}
    >
      Forget
    </button>
  );
}

/** Props of {@link ForgetPrompt}. */
export interface ForgetPromptProps {
  agentId: string;
  /** The forget request of this agent, still in the list. */
  state: Exclude<ForgetState, null | { phase: "done" }>;
  /** Sends the request; the Yes button is disabled without it. */
  onConfirm?: () => void;
  /** Closes the question or the error. */
  onCancel: () => void;
  /** Put before each `data-testid` (a second list on the page: `fleet-`). */
  testIdPrefix?: string;
}

/**
 * The second step under an agent row: "Forget build-1? Yes / No", then
 * "Forgetting…", or the refusal with a Dismiss button. Escape answers No.
 */
export function ForgetPrompt(
  { agentId, state, onConfirm, onCancel, testIdPrefix = "" }: ForgetPromptProps,
) {
  const p = testIdPrefix;
  if (state.phase === "pending") {
    return (
      <div
        class="agent-forget"
        role="status"
        data-testid={`${p}forget-pending-${agentId}`}
      >
        Forgetting {state.name}…
      </div>
    );
  }
  if (state.phase === "error") {
    return (
      <div
        class="agent-forget"
        role="alert"
        data-testid={`${p}forget-error-${agentId}`}
      >
        <span class="text-error">{state.text}</span>
        <button
          type="button"
          class="button small"
          data-testid={`${p}forget-dismiss-${agentId}`}
          onClick={onCancel}
        >
          Dismiss
        </button>
      </div>
    );
  }
  return (
    <div
      class="agent-forget"
      role="group"
      aria-label={`Forget ${state.name}?`}
      data-testid={`${p}forget-confirm-${agentId}`}
      onKeyDown={(e) => {
        if (e.key === "Escape") onCancel();
      }}
    >
      <span class="agent-forget-question">Forget {state.name}?</span>
      <span class="agent-forget-actions">
        <button
          type="button"
          class="button small danger"
          data-testid={`${p}forget-yes-${agentId}`}
          disabled={!onConfirm}
          onClick={onConfirm}
        >
          Yes
        </button>
        <button
          type="button"
          class="button small"
          data-testid={`${p}forget-no-${agentId}`}
          onClick={onCancel}
        >
          No
        </button>
      </span>
    </div>
  );
}
