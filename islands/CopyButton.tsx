import { useState } from "preact/hooks";
import { useHydrated } from "../lib/client/use_hydrated.ts";

/** Props of {@link CopyButton}. */
export interface CopyButtonProps {
  /** The text copied to the clipboard. */
  text: string;
  /** Accessible name, e.g. "Copy the agent command". */
  label: string;
  testId?: string;
}

/** A button that copies `text` to the clipboard and says whether it did. */
export default function CopyButton({ text, label, testId }: CopyButtonProps) {
  const hydrated = useHydrated();
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
  };
  return (
    <button
      type="button"
      class="button small"
      aria-label={label}
      disabled={!hydrated}
      data-testid={testId}
      data-state={state}
      onClick={copy}
    >
      {state === "copied"
        ? "Copied"
        : state === "failed"
        ? "Copy failed: select the text"
        : "Copy"}
    </button>
  );
}
