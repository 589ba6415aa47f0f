/**
 * The island boot script: one fixed external module that hydrates a page
 * from the JSON block `#__FRSH_BOOT` the renderer writes (runtime URL,
 * island bundle URLs, export per island name). Pages thus run no inline
 * script, so a Content-Security-Policy of `script-src 'self'` holds.
 * @module
 */

/** URL the handler serves {@linkcode BOOT_SOURCE} at. */
export const BOOT_PATH = "/_frsh/boot.js";

/** The boot block as written into pages. */
export interface BootData {
  /** URL of the client runtime module (exports `revive`). */
  runtime: string;
  /** URLs of the island bundles. */
  modules: string[];
  /** `[hydration name, index into modules, export name]` per island. */
  islands: [string, number, string][];
}

/** Source of the boot module (plain JavaScript, run by browsers). */
export const BOOT_SOURCE = `const el = document.getElementById("__FRSH_BOOT");
const boot = JSON.parse(el.textContent);
const [runtime, ...modules] = await Promise.all(
  [boot.runtime, ...boot.modules].map((url) => import(url)),
);
const islands = {};
for (const [name, index, exportName] of boot.islands) {
  islands[name] = modules[index][exportName];
}
runtime.revive(islands);
`;
