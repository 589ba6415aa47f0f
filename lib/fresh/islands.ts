/**
 * Server-side island detection. A preact `options.vnode` hook swaps every
 * vnode whose type is a registered island component for a wrapper that, while
 * a page renders, emits
 * `<div data-frsh-island="Name" data-frsh-id="0" style="display:contents">`
 * around the island's markup and records its props for hydration.
 * @module
 */
import {
  type ComponentChildren,
  type ComponentType,
  h,
  options,
  type VNode,
} from "preact";
import type { Manifest } from "./types.ts";

/** A registered island export. */
export interface IslandInfo {
  /** Hydration name: file name, plus `_Export` for named exports. */
  name: string;
  /** File-derived base name (`AgentList`), the key of its bundle. */
  base: string;
  /** Export name in the island module (`default` or a named export). */
  exportName: string;
  /** The component itself. */
  component: ComponentType<Record<string, unknown>>;
}

/** An island instance rendered on a page. */
export interface RenderedIsland {
  /** The island's registration. */
  info: IslandInfo;
  /** Its serializable props (without `children`). */
  props: Record<string, unknown>;
}

// Island registry shared by every handler of the process; components are
// module singletons, so registering twice is harmless.
const registry = new Map<unknown, IslandInfo>();
let collecting: RenderedIsland[] | undefined;
let bypass = false;

/**
 * Derives an island's base name from its manifest key.
 *
 * @example
 * ```ts
 * islandBaseName("./islands/AgentList.tsx"); // "AgentList"
 * ```
 */
export function islandBaseName(key: string): string {
  const rel = key.replace(/^\.\//, "").replace(/^islands\//, "")
    .replace(/\.[jt]sx?$/, "");
  return rel.replace(/[^A-Za-z0-9_$]/g, "_");
}

/** Registers every function export of the manifest's island modules. */
export function registerIslands(manifest: Manifest): IslandInfo[] {
  const out: IslandInfo[] = [];
  for (const [key, mod] of Object.entries(manifest.islands)) {
    const base = islandBaseName(key);
    for (const [exportName, value] of Object.entries(mod)) {
      if (typeof value !== "function") continue;
      const name = exportName === "default" ? base : `${base}_${exportName}`;
      const info: IslandInfo = {
        name,
        base,
        exportName,
        component: value as ComponentType<Record<string, unknown>>,
      };
      registry.set(value, info);
      out.push(info);
    }
  }
  return out;
}

interface WrapperProps {
  info: IslandInfo;
  props: Record<string, unknown>;
}

function IslandWrapper({ info, props }: WrapperProps): ComponentChildren {
  bypass = true;
  const inner = h(info.component, props);
  bypass = false;
  if (!collecting) return inner;
  const id = collecting.length;
  const { children: _children, ...serializable } = props;
  collecting.push({ info, props: serializable });
  return h("div", {
    "data-frsh-island": info.name,
    "data-frsh-id": String(id),
    style: "display:contents",
  }, inner);
}

const previousVnode = options.vnode;
options.vnode = (vnode) => {
  if (!bypass && typeof vnode.type === "function") {
    const info = registry.get(vnode.type);
    if (info) {
      const props = vnode.props as Record<string, unknown>;
      const swapped = vnode as unknown as VNode<WrapperProps>;
      swapped.type = IslandWrapper;
      swapped.props = { info, props, children: undefined };
    }
  }
  previousVnode?.(vnode);
};

/**
 * Runs a synchronous render while collecting the islands it emits.
 * Renders must not interleave, which holds for synchronous renderToString.
 */
export function collectIslands<R>(
  fn: () => R,
): { result: R; islands: RenderedIsland[] } {
  const islands: RenderedIsland[] = [];
  const previous = collecting;
  collecting = islands;
  try {
    return { result: fn(), islands };
  } finally {
    collecting = previous;
  }
}

/**
 * Serializes island props for `<script id="__FRSH_STATE">` as `{"v":[...]}`.
 * Every `<` becomes `\u003c`, so `</script>` and `<!--` cannot end the tag.
 * @throws {TypeError} if props are not JSON-serializable (e.g. a BigInt).
 */
export function serializeIslandState(islands: RenderedIsland[]): string {
  let json: string;
  try {
    json = JSON.stringify({ v: islands.map((i) => i.props) });
  } catch (error) {
    throw new TypeError("Island props must be JSON-serializable", {
      cause: error,
    });
  }
  return escapeJsonForHtml(json);
}

/**
 * Makes JSON text safe inside a `<script type="application/json">` block:
 * every `<` becomes `\u003c` (so `</script>` and `<!--` cannot end it), and
 * U+2028/U+2029 are escaped.
 */
export function escapeJsonForHtml(json: string): string {
  return json.replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}
