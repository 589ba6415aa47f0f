/**
 * The agent's log file is never written through a planted symbolic link or
 * into another user's file, and is readable by its owner only.
 */
import assert from "node:assert/strict";
import { createFileLogger } from "./logger.ts";

const isRoot = Deno.uid() === 0;

Deno.test("createFileLogger(): a symbolic link at the log path is refused; its target is untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fd-log-" });
  try {
    const target = `${dir}/victim`;
    await Deno.writeTextFile(target, "precious\n");
    await Deno.symlink(target, `${dir}/agent.log`);
    assert.throws(
      () => createFileLogger(`${dir}/agent.log`),
      /symbolic link/,
    );
    assert.equal(await Deno.readTextFile(target), "precious\n");
    // A dangling link (the target to be created through it) too.
    await Deno.symlink(`${dir}/created`, `${dir}/dangling.log`);
    assert.throws(() => createFileLogger(`${dir}/dangling.log`), /symbolic/);
    await assert.rejects(Deno.lstat(`${dir}/created`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createFileLogger(): a new log is mode 600; an existing one of ours is appended to and made 600", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fd-log-" });
  try {
    createFileLogger(`${dir}/new.log`).info("first");
    assert.equal((await Deno.stat(`${dir}/new.log`)).mode! & 0o777, 0o600);
    assert.match(await Deno.readTextFile(`${dir}/new.log`), /first\n$/);
    await Deno.writeTextFile(`${dir}/old.log`, "before\n", { mode: 0o644 });
    await Deno.chmod(`${dir}/old.log`, 0o644);
    createFileLogger(`${dir}/old.log`).warn("after");
    assert.equal((await Deno.stat(`${dir}/old.log`)).mode! & 0o777, 0o600);
    assert.match(
      await Deno.readTextFile(`${dir}/old.log`),
      /^before\n\S+ flightdeck-agent: after\n$/,
    );
    // Not a regular file.
    await Deno.mkdir(`${dir}/dir.log`);
    assert.throws(() => createFileLogger(`${dir}/dir.log`), /regular file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "createFileLogger(): a file of another user at the log path is refused (runs as root: chown)",
  ignore: !isRoot,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "fd-log-" });
    try {
      const path = `${dir}/agent.log`;
      await Deno.writeTextFile(path, "theirs\n");
      await Deno.chown(path, 65534, 65534);
      assert.throws(() => createFileLogger(path), /another user/);
      assert.equal(await Deno.readTextFile(path), "theirs\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
