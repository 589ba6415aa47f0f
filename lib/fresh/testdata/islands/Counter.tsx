import { useState } from "preact/hooks";
import { IS_BROWSER } from "$fresh/runtime.ts";

/** Props of {@linkcode Counter}. */
export interface CounterProps {
  /** Initial count. */
  start: number;
  /** Button label. */
  label: string;
}

/** A fixture island: a counter button, disabled until hydrated. */
export default function Counter(props: CounterProps) {
  const [count, setCount] = useState(props.start);
  return (
    <button
      type="button"
      disabled={!IS_BROWSER}
      onClick={() => setCount(count + 1)}
    >
      {props.label} {count}
    </button>
  );
}
