import assert from "node:assert/strict";
import { parseGitStatus, readGitInfo } from "./git_info.ts";

async function git(cwd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("git", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
    env: {
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.test("parseGitStatus() reads branch, commit and dirty from porcelain v2", () => {
  const oid = "0123456789abcdef0123456789abcdef01234567";
  assert.deepEqual(
    parseGitStatus(`# branch.oid ${oid}\n# branch.head main\n`),
    { branch: "main", commit: "0123456789ab", dirty: false },
  );
  assert.deepEqual(
    parseGitStatus(
      `# branch.oid ${oid}\n# branch.head (detached)\n? new.txt\n`,
    ),
    { branch: "HEAD", commit: "0123456789ab", dirty: true },
  );
  assert.deepEqual(
    parseGitStatus("# branch.oid (initial)\n# branch.head main\n"),
    { branch: "main", dirty: false },
  );
  assert.equal(parseGitStatus(""), null);
});

Deno.test("readGitInfo() reports a repository's branch and its dirty state, null outside one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-git-" });
  try {
    assert.equal(await readGitInfo(dir), null);
    await git(dir, "init", "-q", "-b", "feature/x");
    await Deno.writeTextFile(`${dir}/a.txt`, "one\n");
    await git(dir, "add", "a.txt");
    await git(dir, "commit", "-q", "-m", "first");
    const clean = await readGitInfo(dir);
    assert.equal(clean?.branch, "feature/x");
    assert.equal(clean?.dirty, false);
    assert.match(clean?.commit ?? "", /^[0-9a-f]{12}$/);
    await Deno.writeTextFile(`${dir}/a.txt`, "two\n");
    assert.deepEqual(await readGitInfo(dir), { ...clean, dirty: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readGitInfo() never runs a repository's fsmonitor hook", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flightdeck-git-" });
  try {
    await git(dir, "init", "-q", "-b", "main");
    await Deno.writeTextFile(
      `${dir}/hook.sh`,
      `#!/bin/sh\ntouch "${dir}/ran"\n`,
      { mode: 0o755 },
    );
    await git(dir, "config", "core.fsmonitor", `${dir}/hook.sh`);
    assert.equal((await readGitInfo(dir))?.branch, "main");
    await assert.rejects(Deno.stat(`${dir}/ran`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
