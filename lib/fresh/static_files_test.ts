import assert from "node:assert/strict";
import { contentType, resolveInside, serveFile } from "./static_files.ts";

const ROOT = new URL("./testdata/static", import.meta.url).pathname;

Deno.test("contentType() knows the common static file types", () => {
  const cases: Record<string, string> = {
    "a.html": "text/html; charset=utf-8",
    "a.js": "text/javascript; charset=utf-8",
    "a.mjs": "text/javascript; charset=utf-8",
    "a.css": "text/css; charset=utf-8",
    "a.json": "application/json; charset=utf-8",
    "a.svg": "image/svg+xml",
    "a.png": "image/png",
    "a.JPG": "image/jpeg",
    "favicon.ico": "image/x-icon",
    "a.txt": "text/plain; charset=utf-8",
    "a.woff2": "font/woff2",
    "a.js.map": "application/json; charset=utf-8",
    "a.bin": "application/octet-stream",
  };
  for (const [file, type] of Object.entries(cases)) {
    assert.equal(contentType(file), type, file);
  }
});

Deno.test("resolveInside() refuses paths escaping the root", () => {
  assert.equal(resolveInside("/srv", "/css/a.css"), "/srv/css/a.css");
  assert.equal(resolveInside("/srv", "/../etc/passwd"), undefined);
  assert.equal(resolveInside("/srv", "/css/%2e%2e/%2e%2e/x"), undefined);
  assert.equal(resolveInside("/srv", "/..%2fx"), undefined);
  assert.equal(resolveInside("/srv", "/a%5c..%5cx"), undefined);
  assert.equal(resolveInside("/srv", "/a%00"), undefined);
  assert.equal(resolveInside("/srv", "/%E0%A4%A"), undefined);
  assert.equal(resolveInside("/srv", "/"), undefined);
});

Deno.test("serveFile() sends an ETag and answers If-None-Match with 304", async () => {
  const first = await serveFile(
    new Request("http://x/css/site.css"),
    ROOT,
    "/css/site.css",
  );
  assert.ok(first);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("Content-Type"), "text/css; charset=utf-8");
  assert.equal(first.headers.get("Cache-Control"), "no-cache");
  assert.equal(await first.text(), "body {\n  color: red;\n}\n");
  const etag = first.headers.get("ETag");
  assert.match(etag ?? "", /^"[0-9a-f]{20}"$/);
  const again = await serveFile(
    new Request("http://x/css/site.css", {
      headers: { "If-None-Match": `W/"nope", ${etag}` },
    }),
    ROOT,
    "/css/site.css",
  );
  assert.equal(again?.status, 304);
  assert.equal(again?.body, null);
});

Deno.test("serveFile() returns undefined for missing files, folders and POST", async () => {
  const get = (p: string) => new Request(`http://x${p}`);
  assert.equal(await serveFile(get("/nope.txt"), ROOT, "/nope.txt"), undefined);
  assert.equal(await serveFile(get("/css"), ROOT, "/css"), undefined);
  const post = new Request("http://x/hello.txt", { method: "POST" });
  assert.equal(await serveFile(post, ROOT, "/hello.txt"), undefined);
});
