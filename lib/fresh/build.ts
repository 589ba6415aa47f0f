/**
 * Island bundling with `deno bundle` (esbuild) into a content-hashed
 * directory, plus a `manifest.json` mapping islands to their bundles.
 * @module
 */
import { basename, dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { islandBaseName } from "./islands.ts";
import type { Manifest } from "./types.ts";

/** The `manifest.json` written into the output directory. */
export interface BuildManifest {
  /** Content hash of the build; also its directory name. */
  buildId: string;
  /** Client runtime module, relative to the output directory. */
  runtime: string;
  /** Per island base name: its manifest key, bundle and CSS files. */
  islands: Record<string, { file: string; js: string; css: string[] }>;
  /** CSS files not produced for one island entry (e.g. shared chunks). */
  css: string[];
}

/** Options of {@linkcode buildIslands}. */
export interface BuildIslandsOptions {
  /** Output directory (absolute, or relative to the working directory). */
  outDir: string;
}

const CLIENT_ENTRY = fileURLToPath(new URL("./client.ts", import.meta.url));

/** Directory that holds the manifest's `fresh.gen.ts`. */
export function projectRoot(manifest: Manifest): string {
  return dirname(fileURLToPath(manifest.baseUrl));
}

/** Default output directory: `_fresh/` beside the manifest. */
export function defaultOutDir(manifest: Manifest): string {
  return join(projectRoot(manifest), "_fresh");
}

function commonDir(paths: string[]): string {
  let parts = dirname(paths[0]).split(sep);
  for (const p of paths.slice(1)) {
    const other = dirname(p).split(sep);
    let i = 0;
    while (i < parts.length && parts[i] === other[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join(sep) || sep;
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) out.push(...await listFiles(dir, rel));
    else if (entry.isFile) out.push(rel);
  }
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function hashDir(dir: string, files: string[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const f of files) {
    chunks.push(enc.encode(f + "\0"), await Deno.readFile(join(dir, f)));
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) all.set(c, offset), offset += c.length;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.slice(0, 8))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Bundles the client runtime and every island of `manifest` with
 * `deno bundle --platform=browser --code-splitting --minify` into
 * `<outDir>/<hash>/` and writes `<outDir>/manifest.json`.
 * @throws {Error} with the bundler's stderr when bundling fails.
 */
export async function buildIslands(
  manifest: Manifest,
  options: BuildIslandsOptions,
): Promise<BuildManifest> {
  const root = projectRoot(manifest);
  const outDir = options.outDir;
  const islandFiles = Object.keys(manifest.islands).sort();
  const entries = [
    CLIENT_ENTRY,
    ...islandFiles.map((k) => fileURLToPath(new URL(k, manifest.baseUrl))),
  ];
  for (const [i, entry] of entries.entries()) {
    if (!await exists(entry)) {
      throw new Error(`Island file "${islandFiles[i - 1] ?? entry}" not found`);
    }
  }
  await Deno.mkdir(outDir, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: outDir, prefix: ".tmp-" });
  try {
    const args = ["bundle", "--platform=browser", "--code-splitting"];
    args.push("--minify", "--outdir", tmp, ...entries);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      const text = new TextDecoder().decode(stderr).trim();
      throw new Error(`Island bundling failed (exit ${code}):\n${text}`);
    }
    const common = commonDir(entries);
    const outFor = (entry: string, ext: string) =>
      relative(common, entry).split(sep).join("/").replace(
        /\.[jt]sx?$/,
        ext,
      );
    const files = await listFiles(tmp);
    const buildId = await hashDir(tmp, files);
    const missing = entries.map((e) => outFor(e, ".js"))
      .filter((f) => !files.includes(f));
    if (missing.length > 0) {
      throw new Error(
        `Bundler output lacks ${missing.join(", ")}; got ${files.join(", ")}`,
      );
    }
    const target = join(outDir, buildId);
    try {
      await Deno.rename(tmp, target);
    } catch (error) {
      // Built before, or by another process meanwhile: that directory has
      // this very content (its name is the content's hash).
      if (!(await exists(target))) throw error;
      await Deno.remove(tmp, { recursive: true });
    }
    const entryCss = new Set<string>();
    const islands: BuildManifest["islands"] = {};
    islandFiles.forEach((file, i) => {
      const css = outFor(entries[i + 1], ".css");
      const has = files.includes(css);
      if (has) entryCss.add(css);
      islands[islandBaseName(file)] = {
        file,
        js: `${buildId}/${outFor(entries[i + 1], ".js")}`,
        css: has ? [`${buildId}/${css}`] : [],
      };
    });
    const result: BuildManifest = {
      buildId,
      runtime: `${buildId}/${outFor(CLIENT_ENTRY, ".js")}`,
      islands,
      css: files.filter((f) => f.endsWith(".css") && !entryCss.has(f))
        .map((f) => `${buildId}/${f}`),
    };
    const manifestTmp = join(outDir, `.manifest-${crypto.randomUUID()}`);
    await Deno.writeTextFile(manifestTmp, JSON.stringify(result, null, 2));
    await Deno.rename(manifestTmp, join(outDir, "manifest.json"));
    await removeOldBuilds(outDir, buildId);
    return result;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Builds younger than this stay: a running server may still serve them. */
const KEEP_OLD_BUILDS_MS = 24 * 3600_000;

async function removeOldBuilds(outDir: string, keep: string): Promise<void> {
  for await (const e of Deno.readDir(outDir)) {
    if (e.isDirectory && e.name !== keep && /^[0-9a-f]{16}$/.test(e.name)) {
      const info = await Deno.stat(join(outDir, e.name)).catch(() => null);
      const age = Date.now() - (info?.mtime?.getTime() ?? 0);
      if (age < KEEP_OLD_BUILDS_MS) continue;
      await Deno.remove(join(outDir, e.name), { recursive: true })
        .catch(() => {});
    }
  }
}

/** Reads `<outDir>/manifest.json`, or `undefined` if absent or invalid. */
export async function readBuildManifest(
  outDir: string,
): Promise<BuildManifest | undefined> {
  try {
    const parsed = JSON.parse(
      await Deno.readTextFile(join(outDir, "manifest.json")),
    );
    return typeof parsed?.buildId === "string" ? parsed : undefined;
  } catch {
    return undefined;
  }
}

const SOURCE = /\.(?:[jt]sx?|css)$/;

async function newestMtime(path: string): Promise<number> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return 0;
  }
  if (info.isFile) {
    return SOURCE.test(path) && !path.includes("_test.")
      ? info.mtime?.getTime() ?? 0
      : 0;
  }
  let newest = 0;
  for await (const e of Deno.readDir(path)) {
    const name = basename(e.name);
    if (name.startsWith(".") || name === "_fresh" || name === "node_modules") {
      continue;
    }
    newest = Math.max(newest, await newestMtime(join(path, name)));
  }
  return newest;
}

/**
 * Whether the build in `outDir` is missing, lists other islands than
 * `manifest`, or is older than any island, `components/` or `lib/` source.
 */
export async function needsBuild(
  manifest: Manifest,
  outDir: string,
): Promise<boolean> {
  const built = await readBuildManifest(outDir);
  if (!built) return true;
  const want = Object.keys(manifest.islands).sort().join("\n");
  const have = Object.values(built.islands).map((i) => i.file).sort();
  if (want !== have.join("\n")) return true;
  const builtAt = (await Deno.stat(join(outDir, "manifest.json"))).mtime;
  const root = projectRoot(manifest);
  const sources = [
    ...Object.keys(manifest.islands).map((k) =>
      fileURLToPath(new URL(k, manifest.baseUrl))
    ),
    join(root, "components"),
    join(root, "lib"),
    dirname(CLIENT_ENTRY),
  ];
  let newest = 0;
  for (const s of sources) newest = Math.max(newest, await newestMtime(s));
  return newest > (builtAt?.getTime() ?? 0);
}

const pending = new Map<string, Promise<BuildManifest>>();

/**
 * Returns the build manifest of `outDir`, building first if
 * {@linkcode needsBuild} says so. Concurrent calls for one `outDir` share a
 * single build; it is checked once per process.
 */
export function ensureBuilt(
  manifest: Manifest,
  outDir: string,
): Promise<BuildManifest> {
  let p = pending.get(outDir);
  if (!p) {
    p = (async () => {
      // Deno Deploy cannot run the bundler: serve what `deno task build` made.
      if (Deno.env.get("DENO_DEPLOYMENT_ID")) {
        const built = await readBuildManifest(outDir);
        if (built) return built;
        throw new Error(
          `No island build in "${outDir}": run \`deno task build\` before deploying`,
        );
      }
      if (await needsBuild(manifest, outDir)) {
        return await buildIslands(manifest, { outDir });
      }
      return (await readBuildManifest(outDir))!;
    })();
    pending.set(outDir, p);
    p.catch(() => pending.delete(outDir));
  }
  return p;
}
