/**
 * Private data on disk: the data folder is mode 0700 and the files in it
 * (KV database with its `-wal`/`-shm` companions, secret) 0600, whatever the
 * umask. Existing folders and files that are group- or world-accessible are
 * tightened. No-ops on Windows, which has no mode bits.
 *
 * @module
 */
import type { Config } from "./config.ts";

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

async function tighten(path: string, mode: number): Promise<boolean> {
  if (Deno.build.os === "windows") return false;
  const info = await Deno.stat(path);
  if (info.mode === null || (info.mode & 0o777 & ~mode) === 0) return false;
  await Deno.chmod(path, mode);
  return true;
}

/**
 * Create `path` (and missing parents) with mode 0700, or tighten it to 0700
 * when it exists with group or world access. Returns whether it tightened an
 * existing folder.
 *
 * @throws {Deno.errors.PermissionDenied} when it cannot be created or changed.
 */
export async function ensurePrivateDir(path: string): Promise<boolean> {
  let existed = true;
  try {
    await Deno.stat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    existed = false;
    await Deno.mkdir(path, { recursive: true, mode: PRIVATE_DIR });
  }
  // mkdir's mode passes through the umask, which can only remove bits;
  // chmod makes it exact either way.
  const changed = await tighten(path, PRIVATE_DIR);
  return existed && changed;
}

/**
 * Make the KV database at `path` private before opening it: create it empty
 * with mode 0600 when absent (SQLite treats an empty file as a new database
 * and gives `-wal`/`-shm` the database file's mode), and tighten the file and
 * existing companions to 0600. Returns the paths it tightened.
 */
export async function preparePrivateKvFile(path: string): Promise<string[]> {
  try {
    const file = await Deno.open(path, {
      write: true,
      createNew: true,
      mode: PRIVATE_FILE,
    });
    file.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  const tightened: string[] = [];
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if (await tighten(file, PRIVATE_FILE)) tightened.push(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return tightened;
}

/**
 * Tighten an existing file to 0600 when it is group- or world-accessible.
 * Returns whether it changed it; false for a missing file.
 */
export async function ensurePrivateFile(path: string): Promise<boolean> {
  try {
    return await tighten(path, PRIVATE_FILE);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Open the store `config` names: in memory (`:memory:`), Deno Deploy's own
 * KV (on Deploy without `kvPath`), or the SQLite file `kvPath` (default
 * `<dataDir>/flightdeck.kv`), made private first. SQLite lets a second
 * process (`deno task token`) open the file while the server holds it.
 */
export async function openKv(config: Config): Promise<Deno.Kv> {
  if (config.kvPath === ":memory:" || config.dataDir === ":memory:") {
    return await Deno.openKv(":memory:");
  }
  if (Deno.env.get("DENO_DEPLOYMENT_ID") && !config.kvPath) {
    return await Deno.openKv();
  }
  const path = kvFilePath(config);
  const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")));
  // The data folder is ours to keep private; a folder named by kvPath is
  // only created private (never changed) when missing.
  if (!config.kvPath) await ensurePrivateDir(config.dataDir);
  else if (dir) await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await preparePrivateKvFile(path);
  return await Deno.openKv(path);
}

/** The SQLite file of the store (`kvPath`, default `<dataDir>/flightdeck.kv`). */
export function kvFilePath(config: Config): string {
  return config.kvPath ?? `${config.dataDir}/flightdeck.kv`;
}

/**
 * The folder of output files (file_output.ts) of a KV file on disk:
 * `<dataDir>/output`, or `<kvPath>-output` when `kvPath` names the KV file;
 * null for in-memory KV and Deno Deploy's own.
 */
export function outputDir(config: Config): string | null {
  if (config.kvPath === ":memory:" || config.dataDir === ":memory:") {
    return null;
  }
  if (Deno.env.get("DENO_DEPLOYMENT_ID") && !config.kvPath) return null;
  return config.kvPath ? `${config.kvPath}-output` : `${config.dataDir}/output`;
}
