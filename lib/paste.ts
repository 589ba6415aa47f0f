/**
 * Text pasted into a terminal, made safe to paste: line ends as `\n`, and
 * every other control character removed (C0 but tab and newline, DEL and
 * C1, ESC included). A paste then cannot end a bracketed paste early
 * (`ESC [201~`) or act as keys (Ctrl-C, Enter as `\r` inside a line).
 * Shared by the agent (prompts typed into a session) and the browser
 * (pastes into a controlled terminal).
 * @module
 */

/** `text` with line ends as `\n` and other control characters removed. */
export function cleanPaste(text: string): string {
  return text.replace(/\r\n?/g, "\n")
    // deno-lint-ignore no-control-regex -- removing control characters
    .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "");
}
