import assert from "node:assert/strict";
import { loadSecret, SECRET_FILE } from "./secret.ts";

Deno.test("loadSecret() generates the secret once with mode 0600 and reads it back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dataDir = `${dir}/data`;
    const secret = await loadSecret(dataDir);
    assert.match(secret, /^[0-9a-f]{64}$/);
    const path = `${dataDir}/${SECRET_FILE}`;
    assert.equal(await Deno.readTextFile(path), secret + "\n");
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    }
    assert.equal(await loadSecret(dataDir), secret);
    assert.equal(await Deno.readTextFile(path), secret + "\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSecret() returns the configured secret and writes nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const configured = "c".repeat(32);
    assert.equal(await loadSecret(dir, configured), configured);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSecret() prefers the configured secret over the stored one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const stored = await loadSecret(dir);
    const configured = "c".repeat(32);
    assert.notEqual(stored, configured);
    assert.equal(await loadSecret(dir, configured), configured);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSecret() reads an existing secret file, trimmed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const existing = "e".repeat(40);
    await Deno.writeTextFile(`${dir}/${SECRET_FILE}`, `  ${existing}\n\n`);
    assert.equal(await loadSecret(dir), existing);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSecret() with :memory: returns a fresh secret and writes nothing", async () => {
  const a = await loadSecret(":memory:");
  const b = await loadSecret(":memory:");
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.notEqual(a, b);
  await assert.rejects(Deno.stat(":memory:"), Deno.errors.NotFound);
});
