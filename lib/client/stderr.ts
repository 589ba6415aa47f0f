/**
 * stderr made visibly distinct in the terminal: its text is drawn red
 * (ANSI color 1 of the terminal's theme), kept red across the program's own
 * color resets, and the color is reset after it. A program's own colors on
 * stderr still show (they replace the red until their next reset). An
 * escape sequence split between two chunks is written as it comes.
 * @module
 */

/** Sets the stderr color. */
export const STDERR_ON = "\x1b[31m";
/** Back to the default foreground. */
export const STDERR_OFF = "\x1b[39m";

// deno-lint-ignore no-control-regex -- SGR sequences start with ESC
const SGR = /\x1b\[([0-9;:]*)m/g;

/** Whether SGR parameters `params` reset the foreground color. */
function resetsForeground(params: string): boolean {
  if (params === "") return true;
  return params.split(/[;:]/).some((p) => p === "0" || p === "39" || p === "");
}

/** `data` wrapped to show as stderr (see the module doc). */
export function stderrText(data: string): string {
  if (data.length === 0) return data;
  const body = data.includes("\x1b[")
    ? data.replace(
      SGR,
      (all, params: string) => resetsForeground(params) ? all + STDERR_ON : all,
    )
    : data;
  return STDERR_ON + body + STDERR_OFF;
}
