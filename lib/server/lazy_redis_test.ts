import assert from "node:assert/strict";

interface InfoModule {
  specifier: string;
  dependencies?: {
    code?: { specifier: string };
    type?: { specifier: string };
    isDynamic?: boolean;
  }[];
}

Deno.test("the server loads ioredis only when Redis is configured: main.ts has no static import path to it", async () => {
  const main = new URL("../../main.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", main.pathname],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "deno info failed");
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => info.redirects[s] ?? s;
  // Modules main.ts loads at start: static (non-type) imports only.
  const loaded = new Set<string>();
  const todo = info.roots.map(resolve);
  while (todo.length) {
    const specifier = todo.pop()!;
    if (loaded.has(specifier)) continue;
    loaded.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dep.isDynamic || !dep.code) continue;
      todo.push(resolve(dep.code.specifier));
    }
  }
  assert.ok(
    [...loaded].some((s) => s.endsWith("/lib/server/services.ts")),
    "services.ts is not in main.ts's static graph",
  );
  const redis = [...loaded].filter((s) =>
    s.includes("ioredis") || s.endsWith("/redis_storage.ts")
  );
  assert.deepEqual(redis, []);
  // Still in the graph (as a dynamic import), so `deno check` covers it.
  assert.ok(
    bySpecifier.has(resolve("npm:/ioredis@5.11.1")) ||
      info.modules.some((m) => m.specifier.includes("ioredis")),
  );
});
