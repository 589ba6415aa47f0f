import assert from "node:assert/strict";
import { loadSecret, SECRET_FILE, sharedSecret } from "./secret.ts";
import { connectRedis } from "./redis_storage.ts";
import { RedisServer } from "../../tests/redis_server.ts";

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

Deno.test("sharedSecret(): servers racing on one Redis agree on one secret; a short one there is refused", async () => {
  const server = await RedisServer.start();
  const clients = Array.from({ length: 4 }, () => connectRedis(server.url));
  try {
    const secrets = await Promise.all(clients.map((c) => sharedSecret(c)));
    assert.equal(new Set(secrets).size, 1);
    assert.match(secrets[0], /^[0-9a-f]{64}$/);
    assert.equal(await clients[0].get("fd:secret"), secrets[0]);
    // Another prefix, another cluster.
    assert.notEqual(await sharedSecret(clients[0], "other:"), secrets[0]);
    await clients[0].set("short:secret", "too short");
    await assert.rejects(sharedSecret(clients[0], "short:"), RangeError);
  } finally {
    for (const c of clients) c.disconnect();
    await server.close();
  }
});
