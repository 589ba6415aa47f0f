// deno-lint-ignore-file no-console -- silences the expected _500 error log
import assert from "node:assert/strict";
import manifest from "./testdata/fresh.gen.ts";
import { createHandler, type FreshConfig } from "./server.ts";

interface Served {
  fetch(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

async function serve(config: FreshConfig = {}): Promise<Served> {
  const handler = await createHandler(manifest, config);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    fetch: (path, init) => fetch(base + path, init),
    close: () => server.shutdown(),
  };
}

async function withServer(
  fn: (s: Served) => Promise<void>,
  config?: FreshConfig,
): Promise<void> {
  const s = await serve(config);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

function quietErrors(): () => void {
  const original = console.error;
  console.error = () => {};
  return () => console.error = original;
}

Deno.test("createHandler() runs middlewares outer to inner sharing ctx.state", async () => {
  await withServer(async (s) => {
    const res = await s.fetch("/agents/a%20b");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("X-Trail"), "root,agents1,agents2");
    assert.equal(res.headers.get("X-Id"), "1");
    assert.match(
      await res.text(),
      /<p>agent a b root>agents1>agents2<\/p>/,
    );
    const api = await s.fetch("/api/health");
    assert.deepEqual(await api.json(), { ok: true, trail: ["root"] });
  });
});

Deno.test("createHandler() lets a middleware short-circuit the chain", async () => {
  await withServer(async (s) => {
    const res = await s.fetch("/agents/7?block");
    assert.equal(res.status, 403);
    assert.equal(await res.text(), "blocked");
  });
});

Deno.test("createHandler() runs plugin middlewares before route middlewares", async () => {
  const config: FreshConfig = {
    plugins: [{
      name: "services",
      middlewares: [{
        path: "/",
        middleware: {
          handler: (_req, ctx) => {
            ctx.state.trail = ["plugin"];
            return ctx.next();
          },
        },
      }, {
        path: "/agents",
        middleware: { handler: (_req, ctx) => ctx.next() },
      }],
    }],
  };
  await withServer(async (s) => {
    const res = await s.fetch("/api/health");
    assert.deepEqual(await res.json(), { ok: true, trail: ["plugin", "root"] });
  }, config);
});

Deno.test("createHandler() routes static segments before params and catch-all", async () => {
  await withServer(async (s) => {
    assert.match(
      await (await s.fetch("/agents/new")).text(),
      /<p>new agent<\/p>/,
    );
    assert.match(
      await (await s.fetch("/x/y%2Fz")).text(),
      /<p>rest x\/y\/z<\/p>/,
    );
    assert.match(
      await (await s.fetch("/later")).text(),
      /<p>later \/later<\/p>/,
    );
  });
});

Deno.test("createHandler() renders _404 and _500", async () => {
  await withServer(async (s) => {
    const gone = await s.fetch("/gone");
    assert.equal(gone.status, 404);
    assert.match(await gone.text(), /<main><p>missing \/gone<\/p><\/main>/);
    const bundle = await s.fetch("/_frsh/js/nope.js");
    assert.equal(bundle.status, 404);
    assert.equal(bundle.headers.get("X-Destination"), "internal");
    await bundle.body?.cancel();
    const restore = quietErrors();
    try {
      const boom = await s.fetch("/boom");
      assert.equal(boom.status, 500);
      assert.match(await boom.text(), /<main><p>failed: kaboom<\/p><\/main>/);
    } finally {
      restore();
    }
  });
});

Deno.test("createHandler() answers unknown methods with 405 and Allow", async () => {
  await withServer(async (s) => {
    const del = await s.fetch("/api/health", { method: "DELETE" });
    assert.equal(del.status, 405);
    assert.equal(del.headers.get("Allow"), "GET, POST, HEAD");
    await del.body?.cancel();
    const page = await s.fetch("/agents/new", { method: "POST" });
    assert.equal(page.status, 405);
    assert.equal(page.headers.get("Allow"), "GET, HEAD");
    await page.body?.cancel();
    const head = await s.fetch("/agents/new", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  });
});

Deno.test("createHandler() serves static files and hashed bundles", async () => {
  await withServer(async (s) => {
    const txt = await s.fetch("/hello.txt");
    assert.equal(txt.headers.get("Content-Type"), "text/plain; charset=utf-8");
    assert.equal(txt.headers.get("Cache-Control"), "no-cache");
    assert.equal(txt.headers.get("X-Destination"), "static");
    assert.equal(await txt.text(), "hello\n");
    const etag = txt.headers.get("ETag") ?? "";
    const cached = await s.fetch("/hello.txt", {
      headers: { "If-None-Match": etag },
    });
    assert.equal(cached.status, 304);
    await cached.body?.cancel();
    const busted = await s.fetch("/logo.svg?__frsh_c=1");
    assert.equal(
      busted.headers.get("Cache-Control"),
      "public, max-age=31536000, immutable",
    );
    assert.equal(busted.headers.get("Content-Type"), "image/svg+xml");
    await busted.body?.cancel();
    const evil = await s.fetch("/css/..%2f..%2f..%2fdeno.json");
    assert.equal(evil.headers.get("X-Destination"), "route");
    assert.doesNotMatch(await evil.text(), /"imports"/);

    const page = await (await s.fetch("/")).text();
    const src = /"runtime":"(\/_frsh\/js\/[^"]+)"/.exec(page)?.[1];
    assert.ok(src, page);
    const js = await s.fetch(src);
    assert.equal(js.status, 200);
    assert.equal(
      js.headers.get("Content-Type"),
      "text/javascript; charset=utf-8",
    );
    assert.equal(
      js.headers.get("Cache-Control"),
      "public, max-age=31536000, immutable",
    );
    assert.match(await js.text(), /export\s*\{/);
  });
});

Deno.test("createHandler() hydrates only the islands a page renders", async () => {
  await withServer(async (s) => {
    const html = await (await s.fetch("/")).text();
    assert.match(
      html,
      /^<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"\/><title>Home<\/title><link rel="modulepreload" href="[^"]+\/client\.js"\/><link rel="modulepreload" href="[^"]+\/Counter\.js"\/><\/head>/,
    );
    assert.match(
      html,
      /<div data-frsh-island="Counter" data-frsh-id="0" style="display:contents"><button type="button" disabled>&lt;\/script>&lt;!--x 3<\/button><\/div>/,
    );
    assert.ok(html.includes(
      '<script id="__FRSH_STATE" type="application/json">{"v":[{"start":3,"label":"\\u003c/script>\\u003c!--x"}]}</script>',
    ));
    assert.match(html, /\/testdata\/islands\/Counter\.js"/);
    assert.doesNotMatch(html, /Clock/);
    // No inline script: JSON blocks and one external boot module.
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    assert.deepEqual(scripts, [
      ' id="__FRSH_STATE" type="application/json"',
      ' id="__FRSH_BOOT" type="application/json"',
      ' type="module" src="/_frsh/boot.js"',
    ]);
    const boot = await s.fetch("/_frsh/boot.js");
    assert.equal(boot.status, 200);
    assert.equal(
      boot.headers.get("Content-Type"),
      "text/javascript; charset=utf-8",
    );
    assert.match(await boot.text(), /__FRSH_BOOT/);
  });
});
