/**
 * Data at rest, against the real server process under umask 022 (which
 * would leave new files world-readable): the data folder is 0700, and the
 * KV database, its `-wal`/`-shm` companions and the generated secret are
 * 0600. A folder and files left world-readable by an older version are
 * tightened at start.
 */
import assert from "node:assert/strict";
import { ServerProcess } from "./server_process.ts";

const mode = (path: string) => Deno.statSync(path).mode! & 0o777;

async function startOn(dataDir: string): Promise<ServerProcess> {
  return await ServerProcess.start({
    umask: "022",
    // No configured secret: the server generates one into the data folder.
    env: { FLIGHTDECK_DATA: dataDir, FLIGHTDECK_SECRET: "" },
  });
}

function assertPrivate(dataDir: string): void {
  assert.equal(mode(dataDir).toString(8), "700", "data folder");
  const files = [...Deno.readDirSync(dataDir)].map((e) => e.name).sort();
  assert.ok(files.includes("flightdeck.kv"), files.join(", "));
  assert.ok(files.includes("secret"), files.join(", "));
  for (const name of files) {
    assert.equal(mode(`${dataDir}/${name}`).toString(8), "600", name);
  }
}

Deno.test({
  name:
    "faults: a new data folder is 0700 and the KV files and secret in it 0600 (umask 022)",
  ignore: Deno.build.os === "windows",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "flightdeck-rest-" });
    const dataDir = `${parent}/data`;
    try {
      await using server = await startOn(dataDir);
      const health = await fetch(`${server.url}/api/health`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      assertPrivate(dataDir);
      assert.ok(
        Deno.statSync(`${dataDir}/flightdeck.kv-wal`).isFile,
        "the WAL file exists while the server runs",
      );
    } finally {
      await Deno.remove(parent, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "faults: a world-readable data folder, KV file and secret from before are tightened at start",
  ignore: Deno.build.os === "windows",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "flightdeck-rest-" });
    const dataDir = `${parent}/data`;
    try {
      // A first run creates the files; then loosen them as an old version
      // (or a careless copy) would have left them.
      const first = await startOn(dataDir);
      await first.kill("SIGTERM");
      await first.dispose();
      for (const entry of Deno.readDirSync(dataDir)) {
        Deno.chmodSync(`${dataDir}/${entry.name}`, 0o644);
      }
      Deno.chmodSync(dataDir, 0o755);
      await using server = await startOn(dataDir);
      assert.equal(server.running, true);
      assertPrivate(dataDir);
    } finally {
      await Deno.remove(parent, { recursive: true });
    }
  },
});
