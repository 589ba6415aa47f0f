import assert from "node:assert/strict";
import { classifyScreen, DETECTORS, parseOptions } from "./detectors.ts";
import { Screen } from "./screen.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

/**
 * A 100x30 screen (the capture size) fed with a capture's raw bytes, or with
 * its text where the raw bytes were too large to keep.
 */
async function captured(name: string): Promise<Screen> {
  const screen = new Screen(100, 30);
  const text = await Deno.readTextFile(new URL(`${name}.txt`, TESTDATA));
  const raw = await Deno.readTextFile(new URL(`${name}.raw`, TESTDATA))
    .catch(() => text.replace(/\n$/, "").replaceAll("\n", "\r\n"));
  await screen.write(raw);
  // The .txt fixture is exactly the screen the raw bytes draw.
  assert.equal(
    screen.visibleLines().join("\n").replace(/\n+$/, "") + "\n",
    text,
  );
  return screen;
}

/** A screen showing `rows`, cursor at the end of the last one. */
async function drawn(rows: string[], cols = 80): Promise<Screen> {
  const screen = new Screen(cols, 24);
  await screen.write(rows.join("\r\n"));
  return screen;
}

Deno.test("classifyScreen() reads Gemini CLI's real trust dialog as a question with 3 answers", async () => {
  const screen = await captured("gemini_trust");
  assert.deepEqual(classifyScreen(screen, DETECTORS.gemini), {
    kind: "input",
    attention: "Do you trust the files in this folder?",
    options: [
      { key: "1", label: "Trust folder (project)" },
      { key: "2", label: "Trust parent folder (home)" },
      { key: "3", label: "Don't trust" },
    ],
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads Gemini CLI's real auth choice as a question", async () => {
  const screen = await captured("gemini_auth");
  assert.deepEqual(classifyScreen(screen, DETECTORS.gemini), {
    kind: "input",
    attention: "How would you like to authenticate for this project?",
    options: [
      { key: "1", label: "Sign in with Google" },
      { key: "2", label: "Use Gemini API Key" },
      { key: "3", label: "Vertex AI" },
    ],
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads Codex CLI's real sign-in choice (alternate screen) as a question", async () => {
  const screen = await captured("codex_signin");
  assert.equal(screen.altScreen, true);
  assert.deepEqual(classifyScreen(screen, DETECTORS.codex), {
    kind: "input",
    attention: "Choose how you want to use Codex.",
    options: [
      { key: "1", label: "Sign in with ChatGPT" },
      { key: "2", label: "Sign in with Device Code" },
      { key: "3", label: "Sign in another way" },
    ],
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads Gemini CLI's real input prompt as waiting", async () => {
  const screen = await captured("gemini_prompt");
  assert.deepEqual(classifyScreen(screen, DETECTORS.gemini), {
    kind: "waiting",
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads Gemini CLI's real spinner above its prompt as busy", async () => {
  const screen = await captured("gemini_thinking");
  assert.deepEqual(classifyScreen(screen, DETECTORS.gemini), { kind: "busy" });
  screen.dispose();
});

Deno.test("classifyScreen() reads Codex CLI's real API key entry as a question", async () => {
  const screen = await captured("codex_apikey");
  assert.deepEqual(classifyScreen(screen, DETECTORS.codex), {
    kind: "input",
    attention: "Press enter to save",
    options: [],
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads Codex CLI's real composer as waiting", async () => {
  const screen = await captured("codex_prompt");
  assert.deepEqual(classifyScreen(screen, DETECTORS.codex), {
    kind: "waiting",
  });
  screen.dispose();
});

Deno.test("classifyScreen() does not call Claude Code's real connection error waiting or a question", async () => {
  const screen = await captured("claude_start");
  assert.deepEqual(classifyScreen(screen, DETECTORS.claude), {
    kind: "unknown",
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads a real bash prompt as waiting", async () => {
  const screen = await captured("bash_prompt");
  assert.equal(screen.cursorLine(), "bash-5.2#");
  assert.deepEqual(classifyScreen(screen, DETECTORS.shell), {
    kind: "waiting",
  });
  screen.dispose();
});

const CLAUDE_PROMPT = [
  "╭────────────────────────────────────────────╮",
  "│ >                                          │",
  "╰────────────────────────────────────────────╯",
  "  ? for shortcuts",
];

Deno.test("classifyScreen() reads Claude Code's input box as waiting, even under a numbered answer", async () => {
  const screen = await drawn([
    "> list the steps",
    "● Here is the plan. Shall I start?",
    "  1. Read the code",
    "  2. Fix the bug",
    "",
    ...CLAUDE_PROMPT,
  ]);
  assert.deepEqual(classifyScreen(screen, DETECTORS.claude), {
    kind: "waiting",
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads Claude Code's spinner as busy", async () => {
  const screen = await drawn([
    "> fix the tests",
    "● Reading lib/agent/screen.ts",
    "",
    "✻ Thinking… (12s · ↑ 1.2k tokens · esc to interrupt)",
    "",
    ...CLAUDE_PROMPT,
  ]);
  assert.deepEqual(classifyScreen(screen, DETECTORS.claude), { kind: "busy" });
  screen.dispose();
});

Deno.test("classifyScreen() reads Claude Code's permission box as a question with 3 answers", async () => {
  const screen = await drawn([
    "╭──────────────────────────────────────────────────────────────╮",
    "│ Bash command                                                 │",
    "│                                                              │",
    "│   rm -rf build                                               │",
    "│   Remove the build directory                                 │",
    "│                                                              │",
    "│ Do you want to proceed?                                      │",
    "│ ❯ 1. Yes                                                     │",
    "│   2. Yes, and don't ask again for rm commands in /p          │",
    "│   3. No, and tell Claude what to do differently (esc)        │",
    "╰──────────────────────────────────────────────────────────────╯",
  ]);
  assert.deepEqual(classifyScreen(screen, DETECTORS.claude), {
    kind: "input",
    attention: "Do you want to proceed?",
    options: [
      { key: "1", label: "Yes" },
      { key: "2", label: "Yes, and don't ask again for rm commands in /p" },
      { key: "3", label: "No, and tell Claude what to do differently (esc)" },
    ],
  });
  screen.dispose();
});

for (
  const prompt of ["$ ", "user@host:~$ ", "(venv) me@box:~/p$ ", "root@c1:/# "]
) {
  Deno.test(`classifyScreen() reads the shell prompt "${prompt}" as waiting`, async () => {
    const screen = await drawn(["ls", "a  b", prompt]);
    assert.deepEqual(classifyScreen(screen, DETECTORS.shell), {
      kind: "waiting",
    });
    screen.dispose();
  });
}

Deno.test("classifyScreen() reads a shell running a command as unknown output", async () => {
  const screen = await drawn([
    "user@host:~$ make",
    "cc -c main.c",
    "cc -o app main.o",
    "",
  ]);
  assert.deepEqual(classifyScreen(screen, DETECTORS.shell), {
    kind: "unknown",
  });
  screen.dispose();
});

Deno.test("classifyScreen() reads a read -p prompt at the cursor as a question (exec)", async () => {
  const named = await drawn(["Building...", "Your name: "]);
  assert.deepEqual(classifyScreen(named, DETECTORS.exec), {
    kind: "input",
    attention: "Your name:",
    options: [],
  });
  const yesNo = await drawn(["Overwrite config? [y/N] "]);
  assert.deepEqual(classifyScreen(yesNo, DETECTORS.exec), {
    kind: "input",
    attention: "Overwrite config? [y/N]",
    options: [{ key: "y", label: "Yes" }, { key: "n", label: "No" }],
  });
  const output = await drawn(["Building...", "compiled 3 files", ""]);
  assert.deepEqual(classifyScreen(output, DETECTORS.exec), { kind: "unknown" });
  for (const screen of [named, yesNo, output]) screen.dispose();
});

Deno.test("parseOptions() keeps only the last run 1, 2, 3… and needs two answers", () => {
  assert.deepEqual(
    parseOptions([
      "1. old",
      "2. list",
      "3. here",
      "Pick:",
      "› 1. Yes",
      "  2. No",
    ]),
    [{ key: "1", label: "Yes" }, { key: "2", label: "No" }],
  );
  assert.deepEqual(parseOptions(["  3. stray", "  5. lines"]), []);
  assert.deepEqual(parseOptions(["● 1. Only one"]), []);
});
