import assert from "node:assert/strict";
import { commandArgv } from "./argv.ts";

const INJECTION = "--dangerously-skip-permissions";

Deno.test("commandArgv() puts -- before a claude prompt", () => {
  assert.deepEqual(commandArgv("claude", ["claude", "-p"], INJECTION), [
    "claude",
    "-p",
    "--",
    INJECTION,
  ]);
});

Deno.test("commandArgv() puts -- before a codex prompt", () => {
  assert.deepEqual(commandArgv("codex", ["codex", "exec"], "--version"), [
    "codex",
    "exec",
    "--",
    "--version",
  ]);
});

Deno.test("commandArgv() passes a gemini prompt as one --prompt= element", () => {
  assert.deepEqual(commandArgv("gemini", ["gemini"], "--yolo do it"), [
    "gemini",
    "--prompt=--yolo do it",
  ]);
  // A template ending in the prompt flag (the former default) folds it in.
  assert.deepEqual(commandArgv("gemini", ["gemini", "-p"], "-x"), [
    "gemini",
    "--prompt=-x",
  ]);
  assert.deepEqual(
    commandArgv("gemini", ["gemini", "-m", "pro", "--prompt"], "a=b\nc"),
    ["gemini", "-m", "pro", "--prompt=a=b\nc"],
  );
});

Deno.test("commandArgv() ends bash's options before a shell command", () => {
  assert.deepEqual(commandArgv("shell", [], "-i"), ["bash", "-lc", "--", "-i"]);
});

Deno.test("commandArgv() puts -- before the prompt of other types", () => {
  assert.deepEqual(commandArgv("custom", ["my-cli", "-q"], "--yes"), [
    "my-cli",
    "-q",
    "--",
    "--yes",
  ]);
});
