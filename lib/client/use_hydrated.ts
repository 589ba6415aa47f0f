/**
 * Hook telling an island whether it has hydrated, so controls stay disabled
 * in the server-rendered markup and until event handlers are attached.
 * @module
 */
import { useEffect, useState } from "preact/hooks";

/** `false` during server rendering and the first browser render, then `true`. */
export function useHydrated(): boolean {
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  return hydrated;
}
