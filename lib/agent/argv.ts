/**
 * The argv a command runs as, per agent type, built so that the prompt (or
 * shell command) always stays one argument that no option parser reads as
 * an option: a prompt `--dangerously-skip-permissions` is a prompt.
 *
 * How each CLI takes it (checked against claude 2.1.197, gemini 0.61.0 and
 * codex-cli 0.171.0, whose parsers honour or refuse `--` as noted):
 * - `shell`: `bash -lc -- <command>` (bash ends its options at `--`).
 * - `claude`: `<template> -- <prompt>` (`claude -p -- --version` runs the
 *   prompt "--version"; without `--` it prints the version).
 * - `codex`: `<template> -- <prompt>` (clap: `codex exec -- --version` runs
 *   the prompt; `-- review` is a prompt, not the `review` subcommand).
 * - `gemini`: `<template> --prompt=<prompt>`, one element. Its parser
 *   (yargs) refuses `-p -- x` ("Not enough arguments following: p") and
 *   reads `-p --version` as the flag, but takes everything after `=` as the
 *   value. A template ending in `-p` or `--prompt` (the former default,
 *   `gemini -p`) has that flag folded into `--prompt=`.
 * - any other type: `<template> -- <prompt>`.
 *
 * @module
 */

/** Options that take the prompt as their value in a gemini template. */
const GEMINI_PROMPT_FLAGS = new Set(["-p", "--prompt"]);

/**
 * The argv for `prompt` on an agent of `type` whose command template (argv
 * prefix) is `template`.
 *
 * @example
 * ```ts
 * commandArgv("claude", ["claude", "-p"], "--help");
 * // ["claude", "-p", "--", "--help"]
 * commandArgv("gemini", ["gemini"], "--yolo");
 * // ["gemini", "--prompt=--yolo"]
 * ```
 */
export function commandArgv(
  type: string,
  template: readonly string[],
  prompt: string,
): string[] {
  if (type === "shell") return ["bash", "-lc", "--", prompt];
  if (type === "gemini") {
    const prefix = GEMINI_PROMPT_FLAGS.has(template.at(-1) ?? "")
      ? template.slice(0, -1)
      : [...template];
    return [...prefix, `--prompt=${prompt}`];
  }
  return [...template, "--", prompt];
}
