import assert from "node:assert/strict";

Deno.test({
  name: "raiseFileLimit() raises the soft open-file limit to the hard one",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const module = new URL("./fd_limit.ts", import.meta.url).href;
    // Deno raises the soft limit itself at start-up, so the script lowers
    // it first (setrlimit through FFI), as another runtime would leave it.
    const script = `
      import { fileLimit, raiseFileLimit } from ${JSON.stringify(module)};
      const libc = Deno.dlopen("libc.so.6", {
        setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      });
      const hard = BigInt(fileLimit().hard);
      if (libc.symbols.setrlimit(7, new BigUint64Array([300n, hard])) !== 0) {
        throw new Error("setrlimit failed");
      }
      const before = fileLimit();
      const after = raiseFileLimit();
      const proc = Deno.readTextFileSync("/proc/self/limits");
      const soft = Number(/Max open files\\s+(\\d+)/.exec(proc)[1]);
      console.log(JSON.stringify({ before, after, soft }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const { before, after, soft } = JSON.parse(
      new TextDecoder().decode(out.stdout),
    );
    assert.equal(before.soft, 300);
    assert.ok(before.hard > 300, `hard limit ${before.hard}`);
    assert.deepEqual(after, { soft: before.hard, hard: before.hard });
    assert.equal(soft, before.hard, "the kernel agrees");
  },
});
