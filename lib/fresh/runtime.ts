/**
 * Helpers usable from both server-rendered components and island bundles,
 * mirroring Fresh 1.x's `$fresh/runtime.ts`.
 * @module
 */
import { type ComponentChildren, createContext } from "preact";
import { useContext } from "preact/hooks";

/** `true` inside browser bundles, `false` on the server. */
export const IS_BROWSER: boolean = typeof document !== "undefined";

/**
 * Collects `<Head>` children during server rendering. Internal: the renderer
 * provides an array, `Head` pushes into it.
 */
export const HEAD_CONTEXT = createContext<ComponentChildren[] | undefined>(
  undefined,
);

/** Props of {@linkcode Head}. */
export interface HeadProps {
  /** Elements to place in the document `<head>`. */
  children?: ComponentChildren;
}

/**
 * Moves its children into the document `<head>` during server rendering.
 * Renders nothing in place (and nothing in the browser).
 *
 * @example
 * ```tsx
 * <Head><title>Agents</title></Head>
 * ```
 */
export function Head(props: HeadProps): null {
  const collected = useContext(HEAD_CONTEXT);
  if (collected) collected.push(props.children);
  return null;
}

let buildId: string | undefined;

/** Internal: sets the cache-busting id used by {@linkcode asset}. */
export function _setBuildId(id: string | undefined): void {
  buildId = id;
}

/**
 * Adds a cache-busting query (`?__frsh_c=<build id>`) to an absolute local
 * path so the static file can be cached immutably. Other URLs, and any URL in
 * the browser, are returned unchanged.
 *
 * @example
 * ```ts
 * asset("/logo.svg"); // "/logo.svg?__frsh_c=1a2b..."
 * ```
 */
export function asset(path: string): string {
  if (!buildId || !path.startsWith("/") || path.startsWith("//")) return path;
  if (path.includes("__frsh_c=")) return path;
  const url = new URL(path, "http://localhost");
  url.searchParams.set("__frsh_c", buildId);
  return url.pathname + url.search + url.hash;
}
