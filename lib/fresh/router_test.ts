import assert from "node:assert/strict";
import {
  compilePattern,
  matchPattern,
  pathToPattern,
  Router,
} from "./router.ts";

Deno.test("pathToPattern() maps index, params and catch-all files", () => {
  assert.equal(pathToPattern("./routes/index.tsx"), "/");
  assert.equal(pathToPattern("./routes/agents/index.tsx"), "/agents");
  assert.equal(pathToPattern("./routes/agents/[id].tsx"), "/agents/:id");
  assert.equal(pathToPattern("./routes/api/health.ts"), "/api/health");
  assert.equal(pathToPattern("./routes/[...rest].tsx"), "/:rest*");
  assert.throws(() => pathToPattern("./routes/a[b].tsx"), TypeError);
});

Deno.test("Router matches static segments before params before catch-all", () => {
  const router = new Router<string>();
  for (const p of ["/:rest*", "/agents/:id", "/agents/new", "/", "/:id"]) {
    router.add(p, p);
  }
  assert.deepEqual(router.routes, [
    "/",
    "/agents/new",
    "/agents/:id",
    "/:id",
    "/:rest*",
  ]);
  assert.equal(router.match("/agents/new")?.value, "/agents/new");
  assert.equal(router.match("/agents/7")?.value, "/agents/:id");
  assert.equal(router.match("/x")?.value, "/:id");
  assert.equal(router.match("/")?.value, "/");
  assert.deepEqual(router.match("/a/b/c"), {
    value: "/:rest*",
    params: { rest: "a/b/c" },
    route: "/:rest*",
  });
});

Deno.test("Router decodes params and ignores a trailing slash", () => {
  const router = new Router<string>();
  router.add("/agents/:id", "agent");
  assert.deepEqual(router.match("/agents/a%20b%2Fc/")?.params, {
    id: "a b/c",
  });
  assert.equal(router.match("/agents"), undefined);
  assert.equal(router.match("/agents/%E0%A4%A"), undefined);
});

Deno.test("matchPattern() with prefix matches folder middleware scopes", () => {
  const scope = compilePattern("/agents");
  assert.deepEqual(matchPattern(scope, "/agents/7", true), {});
  assert.deepEqual(matchPattern(scope, "/agents", true), {});
  assert.equal(matchPattern(scope, "/agentsx", true), undefined);
  assert.equal(matchPattern(scope, "/agents/7"), undefined);
});
