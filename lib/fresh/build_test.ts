import assert from "node:assert/strict";
import { join } from "node:path";
import { buildIslands, needsBuild, readBuildManifest } from "./build.ts";
import type { Manifest } from "./types.ts";

const manifest: Manifest = {
  routes: {},
  islands: {
    "./islands/Clock.tsx": {},
    "./islands/Counter.tsx": {},
    "./styled/islands/Styled.tsx": {},
  },
  baseUrl: new URL("./testdata/fresh.gen.ts", import.meta.url).href,
};

Deno.test("buildIslands() bundles the runtime, islands and CSS into a hashed dir", async () => {
  const outDir = await Deno.makeTempDir();
  try {
    const built = await buildIslands(manifest, { outDir });
    assert.match(built.buildId, /^[0-9a-f]{16}$/);
    assert.deepEqual(built, {
      buildId: built.buildId,
      runtime: `${built.buildId}/client.js`,
      islands: {
        Clock: {
          file: "./islands/Clock.tsx",
          js: `${built.buildId}/testdata/islands/Clock.js`,
          css: [],
        },
        Counter: {
          file: "./islands/Counter.tsx",
          js: `${built.buildId}/testdata/islands/Counter.js`,
          css: [],
        },
        styled_islands_Styled: {
          file: "./styled/islands/Styled.tsx",
          js: `${built.buildId}/testdata/styled/islands/Styled.js`,
          css: [`${built.buildId}/testdata/styled/islands/Styled.css`],
        },
      },
      css: [],
    });
    assert.deepEqual(await readBuildManifest(outDir), built);
    const runtime = await Deno.readTextFile(join(outDir, built.runtime));
    assert.match(runtime, /revive/);
    const css = await Deno.readTextFile(
      join(outDir, built.islands.styled_islands_Styled.css[0]),
    );
    assert.match(css, /\.styled\{color:green\}/);
    assert.equal(await needsBuild(manifest, outDir), false);
    assert.equal(
      await needsBuild({ ...manifest, islands: {} }, outDir),
      true,
    );
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("buildIslands() reports the bundler's error output", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "islands"));
    await Deno.writeTextFile(
      join(dir, "islands", "Broken.tsx"),
      "export default function Broken( {\n",
    );
    const broken: Manifest = {
      routes: {},
      islands: { "./islands/Broken.tsx": {} },
      baseUrl: `file://${dir}/fresh.gen.ts`,
    };
    await assert.rejects(
      buildIslands(broken, { outDir: join(dir, "_fresh") }),
      (error: Error) => {
        assert.match(error.message, /^Island bundling failed \(exit 1\):\n/);
        assert.match(error.message, /Broken\.tsx/);
        return true;
      },
    );
    await assert.rejects(
      buildIslands({ ...broken, islands: { "./islands/Nope.tsx": {} } }, {
        outDir: join(dir, "_fresh"),
      }),
      { message: 'Island file "./islands/Nope.tsx" not found' },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
