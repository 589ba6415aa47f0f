/**
 * Where an agent showing its session in the terminal logs by default: a
 * private directory of its user (`$XDG_STATE_HOME/flightdeck`, else
 * `~/.local/state/flightdeck`, mode 700), not a predictable name in /tmp.
 */
import assert from "node:assert/strict";
import { defaultLogDir, preparePrivateDir } from "./logger.ts";

Deno.test("defaultLogDir(): XDG_STATE_HOME, else ~/.local/state; null without either (absolute)", () => {
  assert.equal(
    defaultLogDir({ XDG_STATE_HOME: "/s", HOME: "/h" }),
    "/s/flightdeck",
  );
  assert.equal(
    defaultLogDir({ HOME: "/home/me", TMPDIR: "/tmp" }),
    "/home/me/.local/state/flightdeck",
  );
  assert.equal(
    defaultLogDir({ XDG_STATE_HOME: "relative", HOME: "/h" }),
    "/h/.local/state/flightdeck",
  );
  assert.equal(defaultLogDir({ TMPDIR: "/tmp" }), null);
});

Deno.test("preparePrivateDir(): creates it (and its parents) mode 700, tightens an existing one, refuses a link", async () => {
  const base = await Deno.makeTempDir({ prefix: "fd-logdir-" });
  try {
    const dir = `${base}/state/flightdeck`;
    preparePrivateDir(dir);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    await Deno.chmod(dir, 0o755);
    preparePrivateDir(dir);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    await Deno.mkdir(`${base}/elsewhere`);
    await Deno.symlink(`${base}/elsewhere`, `${base}/link`);
    assert.throws(() => preparePrivateDir(`${base}/link`), /symbolic link/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
