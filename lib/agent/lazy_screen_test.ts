import assert from "node:assert/strict";

/** Specifiers `agent.ts` loads at start: its static import graph. */
async function staticGraph(): Promise<Set<string>> {
  const root = new URL("../../agent.ts", import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root.href],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(output.code, 0);
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: {
        code?: { specifier: string };
        isDynamic?: boolean;
      }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const walk = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (!dep.isDynamic && dep.code) walk(dep.code.specifier);
    }
  };
  walk(root.href);
  return seen;
}

Deno.test("The agent does not load the headless terminal at start (only --pty and --session commands import it)", async () => {
  const graph = [...await staticGraph()];
  assert.ok(graph.some((s) => s.endsWith("/lib/agent/executor.ts")));
  assert.deepEqual(
    graph.filter((s) =>
      s.includes("@xterm/") || s.endsWith("/lib/agent/screen.ts") ||
      s.endsWith("/lib/agent/terminal_io.ts")
    ),
    [],
  );
});
