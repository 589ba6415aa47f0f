/**
 * Browser runtime: hydrates the islands the server marked with
 * `data-frsh-island` using the props serialized in `#__FRSH_STATE`.
 * Bundled together with the islands so they share one preact instance.
 * @module
 */
import { type ComponentType, h, render } from "preact";

/** Island components by hydration name (`AgentList`, `AgentList_Export`). */
export type IslandComponents = Record<
  string,
  ComponentType<Record<string, unknown>> | undefined
>;

/**
 * Reads the serialized island state from the document.
 * @throws {SyntaxError} if the state script holds invalid JSON.
 */
export function readIslandState(doc: Document = document): unknown[] {
  const text = doc.getElementById("__FRSH_STATE")?.textContent;
  if (!text) return [];
  const parsed: unknown = JSON.parse(text);
  if (
    typeof parsed === "object" && parsed !== null && "v" in parsed &&
    Array.isArray(parsed.v)
  ) return parsed.v;
  return [];
}

/**
 * Hydrates every island marker of the document. Markers nested inside
 * another island are left to their parent (nested islands are unsupported).
 * Unknown island names are reported and skipped.
 */
export function revive(
  islands: IslandComponents,
  doc: Document = document,
): void {
  const state = readIslandState(doc);
  const markers = doc.querySelectorAll<HTMLElement>("[data-frsh-island]");
  for (const el of markers) {
    if (el.parentElement?.closest("[data-frsh-island]")) continue;
    const name = el.dataset.frshIsland ?? "";
    const component = islands[name];
    if (!component) {
      // deno-lint-ignore no-console
      console.error(`Unknown island "${name}"`);
      continue;
    }
    const props = state[Number(el.dataset.frshId)] ?? {};
    // Like Fresh 1.x, `render` over the server markup rather than `hydrate`:
    // preact reuses the existing nodes but, unlike `hydrate`, also patches
    // attributes that differ (e.g. `disabled={!IS_BROWSER}`).
    render(h(component, props as Record<string, unknown>), el);
  }
}
